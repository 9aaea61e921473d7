"""readout, control, nodes and sim as a user runs them: output, exit codes, bad input."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time

from tests.helpers import xiot, xiot_command


def test_readout_streams_rows_and_exits_0(fleet, lab_env):
    result = xiot("readout", "dev0001@xiot.test", "dev0002@xiot.test", env=lab_env)
    assert result.code == 0, result.stderr
    rows = result.ndjson()
    assert {r["jid"] for r in rows} == {"dev0001@xiot.test/sim", "dev0002@xiot.test/sim"}
    assert all(r["status"] == "ok" and r["error"] is None for r in rows)
    temperature = next(r for r in rows if r["name"] == "Temperature")
    assert temperature["unit"] == "°C" and isinstance(temperature["value"], float)


def test_readout_failure_exits_1_and_names_it(fleet, lab_env):
    result = xiot("readout", "dev0001@xiot.test", "dev0047@xiot.test", env=lab_env)
    assert result.code == 1
    failed = [r for r in result.ndjson() if r["status"] != "ok"]
    assert len(failed) == 1 and failed[0]["jid"] == "dev0047@xiot.test"
    assert "offline" in failed[0]["error"]


def test_readout_from_stdin_csv_and_csv_output(fleet, lab_env):
    listing = "jid,kind\ndev0003@xiot.test,relay\ndev0008@xiot.test,relay\n"
    result = xiot("-o", "csv", "readout", "--from-file", "-", "--fields", "Output",
                  env=lab_env, stdin=listing)
    assert result.code == 0, result.stderr
    header, *lines = result.stdout.splitlines()
    assert header.startswith("jid,node,name,value,unit,timestamp,status")
    assert sorted(line.split(",")[0] for line in lines) == ["dev0003@xiot.test/sim",
                                                            "dev0008@xiot.test/sim"]


def test_field_filter_over_a_mixed_fleet(fleet, lab_env):
    # thermometers have Temperature, meters Energy: neither device is at fault
    mixed = xiot("readout", "dev0001@xiot.test", "dev0002@xiot.test", "--fields",
                 "Temperature,Energy", env=lab_env)
    assert mixed.code == 0, mixed.stdout
    assert {r["name"] for r in mixed.ndjson()} == {"Temperature", "Energy"}
    # a device that has none of the requested fields is reported (often a typo)
    typo = xiot("readout", "dev0001@xiot.test", "--fields", "Temprature", env=lab_env)
    assert typo.code == 1
    (problem,) = typo.ndjson()
    assert problem["status"] == "partial" and "missing: Temprature" in problem["error"]


def test_readout_watch_repeats(fleet, lab_env):
    result = xiot("readout", "dev0006@xiot.test", "--fields", "Temperature", "--watch", "0.5",
                  "--rounds", "2", env=lab_env)
    assert result.code == 0
    assert len(result.ndjson()) == 2


def test_control_set_then_readout_shows_it(fleet, lab_env):
    result = xiot("control", "dev0013@xiot.test", "set", "Output=true", env=lab_env)
    assert result.code == 0, result.stderr
    assert result.ndjson()[0]["ok"] is True
    rows = xiot("readout", "dev0013@xiot.test", "--fields", "Output", env=lab_env).ndjson()
    assert rows[0]["value"] is True


def test_control_refusal_exits_1_naming_the_parameter(fleet, lab_env):
    result = xiot("control", "dev0011@xiot.test", "set", "Setpoint:double=80", env=lab_env)
    assert result.code == 1
    assert result.ndjson()[0]["failed_parameters"] == "Setpoint"
    assert "Setpoint" in result.stderr


def test_control_form_as_json(fleet, lab_env):
    result = xiot("-o", "json", "control", "dev0014@xiot.test", "form", env=lab_env)
    assert result.code == 0
    assert {r["name"]: r["type"] for r in json.loads(result.stdout)} == {"Level": "int",
                                                                         "On": "boolean"}


def test_nodes_list_and_node_readout(fleet, lab_env):
    listing = xiot("nodes", "dev0010@xiot.test", "list", env=lab_env)
    assert listing.code == 0
    assert {r["node"] for r in listing.ndjson()} >= {"Sensor1", "Relay2"}
    reading = xiot("readout", "dev0010@xiot.test", "--node", "Sensor3", env=lab_env)
    assert reading.code == 0 and {r["node"] for r in reading.ndjson()} == {"Sensor3"}


# ------------------------------------------------------------------ bad input


def test_unknown_category_exits_2(lab_env):
    line = xiot("readout", "dev0001@xiot.test", "--types", "momentary,bogus",
                env=lab_env).assert_clean_error(2)
    assert "bogus" in line


def test_malformed_from_exits_2(lab_env):
    line = xiot("readout", "dev0001@xiot.test", "--types", "historical", "--from",
                "yesterday-ish", env=lab_env).assert_clean_error(2)
    assert "--from" in line


def test_empty_jid_list_exits_2(lab_env):
    line = xiot("readout", env=lab_env).assert_clean_error(2)
    assert "no devices" in line
    xiot("readout", "--from-file", "-", env=lab_env, stdin="\n# nothing\n").assert_clean_error(2)


def test_unparsable_csv_exits_2(lab_env, tmp_path):
    bad = tmp_path / "devices.csv"
    bad.write_text("jid,kind\ndev0001@xiot.test,relay,extra\n")
    line = xiot("readout", "--from-file", str(bad), env=lab_env).assert_clean_error(2)
    assert "devices.csv:2" in line
    nojid = tmp_path / "nojid.csv"
    nojid.write_text("name,kind\nx,relay\n")
    xiot("readout", "--from-file", str(nojid), env=lab_env).assert_clean_error(2)


def test_bad_assignment_exits_2(lab_env):
    line = xiot("control", "dev0001@xiot.test", "set", "Setpoint", env=lab_env)\
        .assert_clean_error(2)
    assert "NAME=VALUE" in line


# ------------------------------------------------------------------ the simulator itself


def test_sim_run_brings_devices_online_and_stops_cleanly_on_ctrl_c(lab, lab_env,
                                                                    lab_accounts, tmp_path):
    # Accounts the session fleet does not run: the same full JID logged in twice would make
    # the server close the older stream.
    listing = tmp_path / "devices.csv"
    listing.touch(mode=0o600)
    listing.write_text("jid,password,kind\n" + "".join(
        f"{a.jid},{a.password},relay\n" for name, a in sorted(lab_accounts.items())
        if "dev0031" <= name <= "dev0035"))
    proc = subprocess.Popen(
        [xiot_command(), "sim", "run", "--accounts", str(listing), "--seed", "3", "-o", "ndjson"],
        env=lab_env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 60
        ready = ""
        while "online" not in ready and time.monotonic() < deadline:
            ready = proc.stderr.readline()
        assert "5 devices online, 0 failed" in ready
        result = xiot("readout", "dev0032@xiot.test", env=lab_env)
        assert result.code == 0, result.stderr
        assert {r["name"] for r in result.ndjson()} == {"Output", "Switch count"}
    finally:
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=60)
    assert proc.returncode == 130
    assert "Traceback" not in err and "stopped" in err
    events = [json.loads(line) for line in out.splitlines()]
    assert sum(e["event"] == "online" for e in events) == 5
    assert events[-1]["event"] == "stopped"


def test_sim_rejects_unknown_kinds(lab_env):
    line = xiot("sim", "run", "--lab", "testlab", "--kinds", "toaster",
                env=lab_env).assert_clean_error(2)
    assert "toaster" in line


def test_sim_without_lab_says_how_to_start_one(lab_env):
    line = xiot("sim", "run", "--lab", "nolab", env=lab_env).assert_clean_error(3)
    assert "xiot lab up" in line


def test_environment_keeps_profile():
    assert "XIOT_PROFILE" not in os.environ


def test_nodes_params_shows_the_node_form(fleet, lab_env):
    result = xiot("-o", "json", "nodes", "dev0015@xiot.test", "params", "Sensor1", env=lab_env)
    assert result.code == 0, result.stderr
    rows = {r["name"]: r for r in json.loads(result.stdout)}
    assert rows["PollInterval"]["type"] == "int" and rows["PollInterval"]["max"] == "3600"


def test_nan_is_refused_before_sending(fleet, lab_env):
    line = xiot("control", "dev0016@xiot.test", "set", "Setpoint=nan",
                env=lab_env).assert_clean_error(2)
    assert "finite" in line


def test_whole_request_refusal_exits_7(fleet, lab_env):
    result = xiot("control", "dev0010@xiot.test", "set", "--node", "Nope", "Output:boolean=true",
                  env=lab_env)
    assert result.code == 7
    assert "refused the request" in result.stderr


def test_jids_are_case_insensitive_in_the_local_part(fleet, lab_env):
    result = xiot("readout", "DEV0001@XIOT.TEST", "--fields", "Temperature", env=lab_env)
    assert result.code == 0, result.stdout
    assert result.ndjson()[0]["jid"] == "dev0001@xiot.test/sim"


def test_xiot_output_feeds_xiot_and_own_account_is_never_read(fleet, lab_env):
    listing = "\n".join(json.dumps({"jid": f"dev{i:04d}@xiot.test", "role": "device"})
                        for i in (1, 5, 6)) + "\n"
    result = xiot("readout", "-f", "-", "--fields", "Temperature,Nodes", env=lab_env,
                  stdin=listing)
    assert result.code == 0, result.stdout
    assert {r["jid"] for r in result.ndjson()} == {"dev0001@xiot.test/sim",
                                                    "dev0005@xiot.test/sim",
                                                    "dev0006@xiot.test/sim"}
    own = xiot("--timeout", "3", "readout", "admin@xiot.test", env=lab_env)
    (row,) = own.ndjson()
    assert own.code == 1 and row["status"] == "offline"  # never a read of ourselves


def test_simulated_devices_answer_ping_and_refuse_unknown_nodes(fleet, lab_env):
    assert xiot("ping", "dev0003@xiot.test/sim", env=lab_env).code == 0
    refused = xiot("readout", "dev0003@xiot.test", "--node", "Sensor1", env=lab_env)
    assert refused.code == 1 and "item-not-found" in refused.ndjson()[0]["error"]


def test_status_fields_are_stable_and_history_is_on_the_hour(fleet, lab_env):
    first, second = (
        {r["name"]: r["value"] for r in xiot("readout", "dev0017@xiot.test", "--types",
                                             "status", env=lab_env).ndjson()}
        for _ in range(2))
    assert first["Last boot"] == second["Last boot"]
    history = xiot("readout", "dev0017@xiot.test", "--types", "historicalHour", "--from",
                   "-5h", "--to", "-2h", env=lab_env).ndjson()
    assert history and all(r["timestamp"].endswith(":00:00Z") for r in history)


def test_root_options_in_short_form_after_the_command(fleet, lab_env):
    result = xiot("readout", "dev0001@xiot.test", "--fields", "Temperature", "-ocsv",
                  env=lab_env)
    assert result.code == 0 and result.stdout.startswith("jid,node,name")


def test_bad_role_and_small_demo_are_usage_errors(lab_env):
    xiot("lab", "accounts", "--name", "testlab", "--role", "bogus",
         env=lab_env).assert_clean_error(2)
    xiot("demo", "--devices", "1", env=lab_env).assert_clean_error(2)


def test_options_that_would_be_silently_ignored_are_usage_errors(lab_env):
    line = xiot("readout", "dev0001@xiot.test", "--rounds", "2", env=lab_env)\
        .assert_clean_error(2)
    assert "--watch" in line
    line = xiot("readout", "dev0001@xiot.test", "--from", "-2h", env=lab_env)\
        .assert_clean_error(2)
    assert "historical" in line
