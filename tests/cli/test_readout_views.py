"""Readout views end to end: --wide, --columns, and one CSV header across watch rounds."""

from __future__ import annotations

import csv
import io

from tests.helpers import xiot


def test_wide_csv_has_one_row_per_device(fleet, lab_env):
    result = xiot("-o", "csv", "readout", "dev0001@xiot.test", "dev0006@xiot.test", "--wide",
                  env=lab_env)
    assert result.code == 0, result.stderr
    rows = list(csv.DictReader(io.StringIO(result.stdout)))
    assert [r["jid"] for r in rows] == ["dev0001@xiot.test/sim", "dev0006@xiot.test/sim"]
    assert all(r["Temperature"].endswith(" °C") for r in rows)


def test_columns_pick_and_order(fleet, lab_env):
    result = xiot("readout", "dev0001@xiot.test", "--columns", "name,value", env=lab_env)
    assert result.code == 0, result.stderr
    assert all(list(r) == ["name", "value"] for r in result.ndjson())
    bad = xiot("readout", "dev0001@xiot.test", "--columns", "nmae", env=lab_env)
    assert "no column 'nmae'" in bad.assert_clean_error(2)


def test_watch_csv_writes_one_header_and_fails_if_any_round_failed(fleet, lab_env):
    result = xiot("-o", "csv", "readout", "dev0001@xiot.test", "dev0003@xiot.test/gone",
                  "--watch", "0.5", "--rounds", "2", env=lab_env)
    lines = result.stdout.splitlines()
    assert sum(line.startswith("jid,node,name") for line in lines) == 1
    assert result.code == 1  # the gone device failed in every round


def test_csv_shows_values_as_the_device_sent_them(fleet, lab_env):
    result = xiot("-o", "csv", "readout", "dev0001@xiot.test", "dev0003@xiot.test",
                  env=lab_env)
    assert result.code == 0, result.stderr
    rows = list(csv.DictReader(io.StringIO(result.stdout)))
    assert rows and all(r["value"] == r["raw"] for r in rows)  # "18.0" never becomes "18"
    assert {"false", "true"} & {r["value"] for r in rows if r["name"] == "Output"}
