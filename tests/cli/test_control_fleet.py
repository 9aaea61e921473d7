"""control set: one line per device on a terminal, booleans as tables show them, a fleet
from a file with one record per device."""

from __future__ import annotations

import json

from tests.helpers import xiot


def test_one_device_is_one_line_on_a_terminal_and_yes_means_true(fleet, lab_env):
    result = xiot("-o", "table", "control", "dev0008@xiot.test", "set", "Output=yes",
                  env=lab_env)
    assert result.code == 0, result.stderr
    (line,) = result.stdout.splitlines()
    assert line.startswith("dev0008@xiot.test/sim Output=true acknowledged in ")
    assert line.endswith(" ms")
    reading = xiot("readout", "dev0008@xiot.test", "--fields", "Output", env=lab_env)
    assert reading.ndjson()[0]["value"] is True
    off = xiot("-o", "json", "control", "dev0008@xiot.test", "set", "Output=off", env=lab_env)
    record = json.loads(off.stdout)
    assert record["ok"] is True and record["applied_parameters"] == "Output"


def test_a_fleet_from_stdin_gets_one_record_per_device_and_fails_if_any_did(fleet, lab_env):
    # two relays and a thermometer
    devices = "dev0013@xiot.test\ndev0018@xiot.test\ndev0001@xiot.test\n"
    result = xiot("control", "set", "-f", "-", "Output=on", env=lab_env, stdin=devices)
    records = {r["jid"].split("/")[0]: r for r in result.ndjson()}
    assert set(records) == {"dev0013@xiot.test", "dev0018@xiot.test", "dev0001@xiot.test"}
    assert records["dev0013@xiot.test"]["ok"] and records["dev0018@xiot.test"]["ok"]
    assert not records["dev0001@xiot.test"]["ok"]
    assert "no parameter Output" in records["dev0001@xiot.test"]["error"]
    assert result.code == 1


def test_set_without_a_device_is_a_usage_error(lab_env):
    line = xiot("control", "set", "Output=on", env=lab_env).assert_clean_error(2)
    assert "no device given" in line
