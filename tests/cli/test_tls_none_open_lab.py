"""Scansion scripts written from the format description, run with ``--tls none`` against an
open lab (no TLS, any password: what such suites expect), directly and imported as YAML; and
the rule everywhere else: no plaintext authentication.

Every connection goes to the labs on 127.0.0.1; the refusals of non-loopback servers are
tested on settings only (tests/unit/test_tls_none.py).
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from tests.helpers import xiot

SCRIPTS = Path(__file__).parents[1] / "data" / "scansion"
NAMES = sorted(p.name for p in SCRIPTS.glob("*.scs"))
WARNING = ("xiot: WARNING: --tls none: the stream to 127.0.0.1:{port} is NOT encrypted and the "
           "password crosses it in plaintext; allowed for loopback test servers only")


@pytest.fixture()
def plain_env(open_lab) -> dict[str, str]:
    """No profile: everything comes from the command line and the script."""
    env = dict(os.environ)
    env.pop("XIOT_PROFILE", None)
    return env


@pytest.fixture()
def server(open_lab) -> str:
    return f"127.0.0.1:{open_lab.ports['c2s']}"


def steps_of(result) -> list[dict]:
    (record,) = json.loads(result.stdout)
    return record["steps"]


def test_the_scripts_cover_the_format():
    text = "\n".join((SCRIPTS / name).read_text() for name in NAMES)
    assert len(NAMES) >= 4
    for needed in ("\n# ", "\n// ", "\n-- ", "receives: nothing", "{scansion:any}",
                   "{scansion:capture:", "'s full JID}", "'s JID}", "\tresource: ",
                   'type="subscribe"', "jabber:iq:roster", "## "):
        assert needed in text, needed


@pytest.mark.parametrize("name", NAMES)
def test_script_passes_with_tls_none_and_the_server_on_the_command_line(name, plain_env,
                                                                        server, open_lab):
    result = xiot("--tls", "none", "--server", server, "replay", "run", str(SCRIPTS / name),
                  "-o", "json", env=plain_env)
    assert result.code == 0, result.stdout + result.stderr
    assert all(step["status"] == "ok" for step in steps_of(result)), result.stdout
    warnings = [line for line in result.stderr.splitlines() if "WARNING" in line]
    assert warnings == [WARNING.format(port=open_lab.ports["c2s"])]
    assert "password: password" not in result.stdout


def test_scripts_pass_through_the_open_labs_profile_in_parallel(open_lab, plain_env):
    result = xiot("--profile", "openlab", "replay", "run", str(SCRIPTS), "--jobs", "4",
                  "-o", "json", env=plain_env, timeout=120)
    assert result.code == 0, result.stdout + result.stderr
    records = json.loads(result.stdout)
    assert sorted(Path(r["file"]).name for r in records) == NAMES
    assert {r["status"] for r in records} == {"ok"}


@pytest.mark.parametrize("name", NAMES)
def test_imported_yaml_runs_too(name, open_lab, plain_env, tmp_path):
    imported = xiot("replay", "import", str(SCRIPTS / name), "-d", str(tmp_path), env=plain_env)
    assert imported.code == 0, imported.stderr
    (converted,) = tmp_path.glob("*.yaml")
    assert "password" not in converted.read_text()
    result = xiot("--profile", "openlab", "replay", "run", str(converted), "-o", "json",
                  env=plain_env)
    assert result.code == 0, result.stdout + result.stderr
    assert all(step["status"] == "ok" for step in steps_of(result)), result.stdout


def test_without_tls_none_the_open_lab_is_refused_as_a_tls_problem(plain_env, server):
    result = xiot("--server", server, "replay", "run", str(SCRIPTS / "messages.scs"), "-o",
                  "json", env=plain_env)
    assert result.code == 1, result.stdout + result.stderr
    first = steps_of(result)[0]
    assert (first["kind"], first["status"]) == ("connect", "fail")
    assert "offers no STARTTLS, and xiot never authenticates in plaintext" in first["message"]
    assert "WARNING" not in result.stderr


@pytest.mark.parametrize("mode", ["auto", "starttls"])
def test_a_command_without_tls_none_exits_4(mode, open_lab, plain_env):
    result = xiot("--profile", "openlab", "--tls", mode, "ping", "-c", "1", env=plain_env)
    line = result.assert_clean_error(4)
    assert f"the server at 127.0.0.1:{open_lab.ports['c2s']} offers no STARTTLS" in line
    assert "--tls none --server 127.0.0.1:PORT" in line


def test_tls_none_against_a_server_that_requires_tls_fails_at_once(lab, plain_env):
    result = xiot("--profile", "testlab", "--tls", "none", "ping", "-c", "1", env=plain_env)
    assert result.code == 4, result.stderr
    assert "offers no authentication without TLS (it requires STARTTLS)" in result.stderr


def test_the_open_labs_profile_pings(open_lab, plain_env):
    result = xiot("--profile", "openlab", "ping", "-c", "1", "-o", "json", env=plain_env)
    assert result.code == 0, result.stderr
    assert result.stderr.count("WARNING: --tls none") == 1


def test_tls_none_without_a_server_is_a_usage_error(plain_env):
    result = xiot("--tls", "none", "--jid", "romeo@localhost", "ping", env=plain_env)
    line = result.assert_clean_error(2)
    assert line.startswith("xiot: --tls none needs --server 127.0.0.1:PORT (loopback only)")


def test_probe_refuses_tls_none(open_lab, plain_env, server):
    for args in (("--tls", "none", "--server", server), ("--profile", "openlab")):
        result = xiot(*args, "probe", "localhost", env=plain_env)
        assert "probe does not take --tls none" in result.assert_clean_error(2)


def test_lab_status_and_up_show_an_open_lab(open_lab, plain_env):
    status = xiot("lab", "status", "--name", "openlab", "-o", "json", env=plain_env)
    (record,) = json.loads(status.stdout)
    assert (record["open"], record["domain"], record["port_c2s_direct"]) == (True, "localhost",
                                                                             None)
    again = xiot("lab", "up", "--open", "--name", "openlab", "-o", "json", env=plain_env)
    assert again.code == 0, again.stderr
    assert "already running" in again.stderr and "(no TLS, open authentication)" in again.stderr
    assert "is OPEN: no TLS and ANY password is accepted" in again.stderr


def test_help_says_what_none_and_open_mean():
    root = xiot("--help")
    assert "none: no TLS and the password in plaintext" in " ".join(root.stdout.split())
    up = " ".join(xiot("lab", "up", "--help").stdout.split())
    assert "INSECURE, for test suites" in up and "ANY password accepted for ANY user" in up
