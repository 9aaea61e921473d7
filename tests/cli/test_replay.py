"""``xiot replay`` end to end: run with reports and exit codes, lint, schema, bad input."""

from __future__ import annotations

import json
from pathlib import Path

from tests.helpers import xiot

ROOT = Path(__file__).parents[2]
SCENARIOS = ROOT / "scenarios"
FAILS = ROOT / "tests" / "integration" / "replay" / "fails.yaml"

BAD_STEP = """\
name: bad
actors:
  a:
steps:
  - connect: a
  - sleep: 1
"""


def test_run_shipped_scenarios_in_parallel_with_junit(lab_env, fleet, tmp_path):
    junit = tmp_path / "out" / "replay.xml"
    result = xiot("replay", "run", str(SCENARIOS), "--jobs", "4", "--lab", "testlab",
                  "--junit", str(junit), "-o", "json", env=lab_env, timeout=120)
    assert result.code == 0, result.stdout + result.stderr
    records = json.loads(result.stdout)
    assert {r["status"] for r in records} == {"ok"}
    assert [r["file"] for r in records] == sorted(r["file"] for r in records)
    import xml.etree.ElementTree as ET

    suite = ET.parse(junit).getroot().find("testsuite")
    assert suite.get("tests") == str(len(records)) and suite.get("failures") == "0"


def test_failing_run_exits_1_with_the_diff_on_stdout(lab_env, tmp_path):
    junit = tmp_path / "replay.xml"
    result = xiot("replay", "run", str(FAILS), "-o", "table", "--step-timeout", "2",
                  "--junit", str(junit), env=lab_env)
    assert result.code == 1, result.stderr
    assert "FAIL  deliberately failing" in result.stdout
    assert f"step 4 expect (admin) at {FAILS}:12:" in result.stdout
    assert "-    <name>ejabberd</name>" in result.stdout
    assert "+    <name>Prosody</name>" in result.stdout
    assert "also arrived" in result.stdout
    assert "1 scenario: 0 passed, 1 failed, 0 skipped" in result.stdout
    assert 'failures="1"' in junit.read_text()


def test_tap_output(lab_env):
    result = xiot("replay", "run", str(SCENARIOS / "ping.yaml"), str(FAILS), "--tap",
                  "--step-timeout", "2", env=lab_env)
    assert result.code == 1
    lines = result.stdout.splitlines()
    assert lines[:3] == ["TAP version 13", "1..2",
                         f"ok 1 - ping the server and a second resource ({SCENARIOS}/ping.yaml)"]
    assert lines[3].startswith("not ok 2 - deliberately failing")


def test_invalid_scenario_is_exit_2_with_file_and_line(tmp_path):
    path = tmp_path / "bad.yaml"
    path.write_text(BAD_STEP)
    result = xiot("replay", "run", str(path))
    message = result.assert_clean_error(2)
    assert f"{path}:6: unknown step 'sleep'" in message


def test_lint_reports_every_file(tmp_path):
    (tmp_path / "bad.yaml").write_text(BAD_STEP)
    (tmp_path / "xml.yaml").write_text("name: x\nactors: {a: }\nsteps:\n  - send: a\n"
                                       "    xml: <message><body></message>\n")
    (tmp_path / "var.yaml").write_text("name: x\nactors: {a: }\nsteps:\n  - send: a\n"
                                       "    xml: <message to='${b.jid}'/>\n")
    (tmp_path / "unused.yaml").write_text("name: x\nactors: {a: , b: }\nsteps:\n"
                                          "  - connect: a\n")
    result = xiot("replay", "lint", str(tmp_path))
    assert result.code == 2
    assert result.stdout.splitlines() == [
        f"{tmp_path}/bad.yaml:6: unknown step 'sleep' (steps: connect, send, expect, "
        "expect-none, disconnect, wait, set)",
        f"{tmp_path}/unused.yaml:2: actor 'b' is never used (warning)",
        f"{tmp_path}/var.yaml:4: undefined actor 'b' in ${{b.jid}}",
        f"{tmp_path}/xml.yaml:5: send: XML not well-formed (mismatched tag)",
    ]
    assert "3 invalid scenario files" in result.stderr


def test_lint_of_shipped_scenarios_is_clean():
    result = xiot("replay", "lint", str(SCENARIOS))
    assert (result.code, result.stdout) == (0, "")


def test_schema_is_json():
    result = xiot("replay", "schema")
    assert result.code == 0
    assert json.loads(result.stdout)["title"] == "xiot replay scenario"


def test_no_files_is_a_usage_error(tmp_path):
    result = xiot("replay", "run", str(tmp_path / "missing.yaml"))
    assert "no such file or directory" in result.assert_clean_error(2)


SCS = ROOT / "tests" / "integration" / "replay" / "scs" / "ping.scs"


def test_scansion_script_runs_directly_with_its_own_password(lab_env, lab_accounts, tmp_path):
    script = tmp_path / "ping.scs"
    script.write_text(SCS.read_text().replace("PLACEHOLDER", lab_accounts["admin"].password))
    result = xiot("replay", "run", str(script), "-o", "json", env=lab_env)
    assert result.code == 0, result.stdout + result.stderr
    (record,) = json.loads(result.stdout)
    assert record["status"] == "ok"
    assert [s["kind"] for s in record["steps"]] == ["connect", "connect", "send", "expect",
                                                   "send", "expect", "expect-none",
                                                   "disconnect"]
    assert lab_accounts["admin"].password not in result.stdout + result.stderr


def test_imported_yaml_runs_with_the_profile_password(lab_env, tmp_path):
    result = xiot("replay", "import", str(SCS), "-d", str(tmp_path))
    assert result.code == 0, result.stderr
    converted = tmp_path / "ping.yaml"
    assert "PLACEHOLDER" not in converted.read_text()
    run = xiot("replay", "run", str(converted), "-o", "json", env=lab_env)
    assert run.code == 0, run.stdout + run.stderr
    exported = xiot("replay", "export", str(converted))
    assert exported.code == 0 and "Romeo s phone receives:" in exported.stdout
