"""lab status on a terminal: every port, a readable start time, and 120 columns."""

from __future__ import annotations

import json
import re

from tests.helpers import xiot


def test_lab_status_table_fits_120_columns_and_shows_every_port(lab, lab_env):
    env = dict(lab_env, COLUMNS="120")
    result = xiot("-o", "table", "--no-color", "lab", "status", "--name", "testlab", env=env)
    assert result.code == 0, result.stderr
    assert max(len(line) for line in result.stdout.splitlines()) <= 120
    text = " ".join(result.stdout.split())
    for kind in ("c2s", "c2s_direct", "s2s", "http"):
        assert f"{kind} {lab.ports[kind]}" in text.replace("│ ", "").replace(" │", "")
    assert re.search(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d", result.stdout)


def test_lab_status_json_has_an_iso_start_time(lab, lab_env):
    result = xiot("-o", "json", "lab", "status", "--name", "testlab", env=lab_env)
    (record,) = json.loads(result.stdout)
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d[+-]\d\d:\d\d", record["started_at"])
    assert record["port_s2s"] == lab.ports["s2s"]
