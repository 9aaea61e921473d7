"""The installed ``xiot`` command end to end: output formats, exit codes, one-line errors."""

from __future__ import annotations

import json
import os
import socket

import pytest

from tests import helpers
from tests.helpers import xiot_command


@pytest.fixture(params=["installed", "in-process"])
def xiot(request):
    """Each contract test runs twice: the installed console script in its own process, and
    ``xiot.cli.run`` in this process on the working tree, so neither can drift unseen."""
    return helpers.xiot if request.param == "installed" else helpers.xiot_here


def test_version_and_help_work_without_a_config(xiot):
    assert xiot("--version").stdout.startswith("xiot ")
    result = xiot("--help")
    assert result.code == 0
    for name in ("ping", "disco", "lab", "config"):
        assert f"  {name} " in result.stdout
    assert "Exit codes" in result.stdout


def test_ping_streams_ndjson_when_piped(xiot, lab_env):
    result = xiot("ping", "-c", "2", "-i", "0", env=lab_env)
    assert result.code == 0, result.stderr
    rows = result.ndjson()
    assert [r["seq"] for r in rows] == [1, 2]
    assert all(r["status"] == "ok" and r["rtt_ms"] > 0 for r in rows)
    assert list(rows[0]) == ["target", "seq", "status", "rtt_ms", "error"]


def test_ping_failure_exits_1_and_reports_the_row(xiot, lab_env):
    result = xiot("ping", "dev0004@xiot.test/gone", env=lab_env)
    assert result.code == 1
    (row,) = result.ndjson()
    assert row["status"] == "error" and "service-unavailable" in row["error"]


def test_disco_json_and_csv(xiot, lab_env):
    result = xiot("-o", "json", "disco", "--items", env=lab_env)
    assert result.code == 0, result.stderr
    jids = {row["jid"] for row in json.loads(result.stdout)}
    assert "pubsub.xiot.test" in jids
    csv_out = xiot("-o", "csv", "disco", env=lab_env)
    header, *lines = csv_out.stdout.splitlines()
    assert header == "kind,jid,node,category,type,name,var"
    assert any(line.startswith("feature,") and "urn:xmpp:ping" in line for line in lines)


def test_disco_remote_error_exits_7(xiot, lab_env):
    line = xiot("disco", "dev0005@xiot.test/none", env=lab_env).assert_clean_error(7)
    assert "service-unavailable" in line


def test_table_output_names_columns(xiot, lab_env):
    result = xiot("-o", "table", "--no-color", "config", "profiles", env=lab_env)
    assert result.code == 0
    assert "profile" in result.stdout and "testlab" in result.stdout
    assert "\x1b[" not in result.stdout


def test_ping_on_a_terminal_prints_replies_and_a_ping8_summary(xiot, lab_env):
    result = xiot("-o", "table", "ping", "-c", "3", "-i", "0", env=lab_env)
    assert result.code == 0, result.stderr
    lines = result.stdout.splitlines()
    assert [line.split(":")[0] for line in lines[:3]] == ["pong from xiot.test"] * 3
    assert "--- xiot.test ping statistics ---" in lines
    assert "3 sent, 3 received, 0% loss" in lines
    assert lines[-1].startswith("rtt min/avg/max/mdev = ") and lines[-1].endswith(" ms")


def test_ping_json_carries_the_summary(xiot, lab_env):
    result = xiot("-o", "json", "ping", "-c", "2", "-i", "0", "dev0004@xiot.test/gone",
                  env=lab_env)
    assert result.code == 1
    data = json.loads(result.stdout)
    assert [r["seq"] for r in data["replies"]] == [1, 2]
    assert data["summary"] | {"min_ms": None} == {
        "target": "dev0004@xiot.test/gone", "sent": 2, "received": 0, "loss_pct": 100.0,
        "min_ms": None, "avg_ms": None, "max_ms": None, "mdev_ms": None}


def test_config_show_hides_the_password(xiot, lab_env, lab_accounts):
    secret = lab_accounts["admin"].password
    result = xiot("-o", "json", "config", "show", env=lab_env)
    assert result.code == 0
    shown = json.loads(result.stdout)
    assert shown["jid"] == "admin@xiot.test" and shown["tls"] == "starttls"
    assert secret not in result.stdout and secret not in result.stderr
    assert "hidden" in shown["password"]


def test_config_precedence_flag_over_env_over_profile(xiot, lab_env):
    env = lab_env | {"XIOT_TIMEOUT": "7"}
    shown = json.loads(xiot("-o", "json", "config", "show", env=env).stdout)
    assert shown["timeout"] == 7.0
    shown = json.loads(xiot("-o", "json", "--timeout", "3", "config", "show", env=env).stdout)
    assert shown["timeout"] == 3.0


def test_no_secret_in_verbose_logs(xiot, lab_env, lab_accounts):
    secret = lab_accounts["admin"].password
    result = xiot("-vv", "ping", env=lab_env)
    assert result.code == 0
    assert secret not in result.stderr and secret not in result.stdout


def test_lab_status_and_accounts_show_no_passwords(xiot, lab_env, lab_accounts):
    status = xiot("lab", "status", "--name", "testlab", env=lab_env)
    assert status.code == 0
    (row,) = status.ndjson()
    assert row["running"] is True and row["port_c2s"] > 0
    accounts = xiot("lab", "accounts", "--name", "testlab", env=lab_env)
    rows = accounts.ndjson()
    assert {r["role"] for r in rows} == {"admin", "device"}
    devices = xiot("lab", "accounts", "--name", "testlab", "--role", "device", env=lab_env)
    assert len(devices.ndjson()) == len(rows) - 1
    for account in lab_accounts.values():
        assert account.password not in accounts.stdout


# ------------------------------------------------------------------ bad input


def test_unknown_profile_exits_3(xiot, lab_env):
    line = xiot("--profile", "nope", "ping", env=lab_env).assert_clean_error(3)
    assert "unknown profile 'nope'" in line


def test_malformed_jid_exits_2(xiot, lab_env):
    line = xiot("ping", "dev@@xiot.test", env=lab_env).assert_clean_error(2)
    assert "malformed JID" in line


def test_unknown_option_exits_2(xiot):
    line = xiot("ping", "--no-such-flag").assert_clean_error(2)
    assert "--no-such-flag" in line


def test_unreachable_server_exits_4(xiot, lab_env):
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    line = xiot("--server", f"127.0.0.1:{port}", "ping", env=lab_env).assert_clean_error(4)
    assert "cannot connect" in line


def test_wrong_password_exits_5(xiot, lab_env):
    env = lab_env | {"XIOT_PASSWORD": "wrong-password"}
    line = xiot("ping", env=env).assert_clean_error(5)
    assert "refused the credentials" in line
    assert "wrong-password" not in line


def test_bad_ca_file_exits_3(xiot, lab_env, tmp_path):
    bad = tmp_path / "ca.pem"
    bad.write_text("this is not a certificate\n")
    line = xiot("--ca", str(bad), "ping", env=lab_env).assert_clean_error(3)
    assert "no PEM certificate" in line
    line = xiot("--ca", str(tmp_path / "missing.pem"), "ping", env=lab_env).assert_clean_error(3)
    assert "cannot read CA file" in line


def test_untrusted_certificate_exits_4(xiot, lab_env, tmp_path):
    from xiot.lab.ca import CertificateAuthority

    other = tmp_path / "other-ca.pem"
    CertificateAuthority.create("some other CA").write(other, tmp_path / "other-ca.key")
    line = xiot("--ca", str(other), "ping", env=lab_env).assert_clean_error(4)
    assert "certificate" in line


def test_silent_server_exits_6(xiot, lab_env):
    with socket.socket() as silent:
        silent.bind(("127.0.0.1", 0))
        silent.listen()
        port = silent.getsockname()[1]
        result = xiot("--server", f"127.0.0.1:{port}", "--timeout", "1", "ping", env=lab_env)
    result.assert_clean_error(6)


def test_no_password_source_exits_3(xiot, lab_env):
    env = {k: v for k, v in lab_env.items() if k != "XIOT_PROFILE"}
    line = xiot("--jid", "admin@xiot.test", "--server", "127.0.0.1:5222", "ping",
                env=env).assert_clean_error(3)
    assert "no password" in line


def test_insecure_warns_on_stderr(xiot, lab_env):
    env = dict(lab_env)
    result = xiot("--insecure", "ping", env=env)
    assert result.code == 0
    assert "NOT verified" in result.stderr


@pytest.mark.parametrize("debug", [False, True])
def test_traceback_only_with_debug(xiot, lab_env, debug):
    args = ["--debug"] if debug else []
    result = xiot(*args, "--profile", "nope", "ping", env=lab_env)
    assert result.code == 3
    assert ("Traceback" in result.stderr) == debug


def test_broken_pipe_is_quiet(xiot, lab_env):
    import subprocess

    pipeline = f"set -o pipefail; {xiot_command()} ping -c 100 -i 0.02 | head -n 1"
    proc = subprocess.run(pipeline, shell=True, capture_output=True, text=True, env=lab_env,
                          timeout=60, executable="/bin/bash")
    assert proc.stdout.count("\n") == 1
    assert proc.returncode == 0  # the reader closing the pipe is not a failure
    assert "Traceback" not in proc.stderr and "BrokenPipe" not in proc.stderr


def test_config_is_read_from_xdg_config_home(xiot, tmp_path):
    """xiot reads its profiles from $XDG_CONFIG_HOME/xiot, so a user (and this suite) can keep
    separate configurations; nothing of another directory is read."""
    (tmp_path / "xiot").mkdir()
    (tmp_path / "xiot" / "config.yaml").write_text("profiles:\n  here:\n    jid: a@x.test\n")
    env = dict(os.environ, XDG_CONFIG_HOME=str(tmp_path))
    rows = xiot("config", "profiles", env=env).ndjson()
    assert [(r["profile"], r["file"]) for r in rows] == [
        ("here", str(tmp_path / "xiot" / "config.yaml"))]


def test_demo_runs_every_step_and_cleans_up(xiot, lab_env):
    from xiot.lab import manager

    result = xiot("-o", "json", "demo", "--devices", "3", env=lab_env, timeout=120)
    assert result.code == 0, result.stderr
    steps = json.loads(result.stdout)
    names = [s["name"] for s in steps]
    assert names[0] == "lab up" and names[-1] == "lab down"
    assert {"simulated devices", "readout all", "control"} <= set(names)
    assert all(s["ok"] for s in steps)
    control = next(s for s in steps if s["name"] == "control")
    assert "Output off -> on" in control["detail"] or "Output on -> off" in control["detail"]
    assert manager.load("demo") is None


def test_demo_on_a_terminal_prints_each_step_once_with_readings_and_next_steps(xiot, lab_env):
    result = xiot("-o", "table", "--no-color", "demo", "--devices", "5", env=lab_env,
                  timeout=120)
    assert result.code == 0, result.stderr
    steps = [line for line in result.stdout.splitlines() if line.startswith("[")]
    assert [s.split("]")[0] for s in steps] == [f"[{n}" for n in range(1, len(steps) + 1)]
    assert sum("readout all" in s for s in steps) == 1
    assert "readout all" not in result.stderr  # once, not again on stderr
    assert "Temperature" in result.stdout and "°C" in result.stdout  # real readings shown
    assert "Try it yourself:" in result.stdout and "xiot lab up" in result.stdout


def test_python_dash_m_works(xiot):
    import subprocess
    import sys

    done = subprocess.run([sys.executable, "-m", "xiot", "--version"], capture_output=True,
                          text=True, timeout=60)
    assert done.returncode == 0 and done.stdout.startswith("xiot ")


def test_lab_without_prosody_says_how_to_install(xiot, tmp_path):
    env = dict(os.environ, XIOT_PROSODY=str(tmp_path / "no-prosody"))
    line = xiot("lab", "up", "--name", "never", env=env).assert_clean_error(3)
    assert "XIOT_PROSODY" in line


def test_lab_rejects_a_non_loopback_host(xiot):
    line = xiot("lab", "up", "--name", "never", "--host", "192.0.2.1").assert_clean_error(2)
    assert "loopback" in line


def test_unknown_output_format_from_the_environment_is_a_usage_error(xiot):
    """XIOT_OUTPUT=xml used to end in 'internal error' for commands that never resolve
    settings (lab status)."""
    env = dict(os.environ, XIOT_OUTPUT="xml")
    line = xiot("lab", "status", env=env).assert_clean_error(2)
    assert "XIOT_OUTPUT: unknown output format 'xml'" in line


def test_monitoring_formats_are_only_for_probe(xiot):
    line = xiot("-o", "nagios", "lab", "status").assert_clean_error(2)
    assert "only available for 'xiot probe'" in line


def test_a_mistyped_command_gets_a_did_you_mean(xiot):
    line = xiot("redout", "dev@x.test").assert_clean_error(2)
    assert "No such command 'redout'. Did you mean 'readout'?" in line
