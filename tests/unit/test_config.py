"""Configuration precedence, profile files and credential sources."""

from __future__ import annotations

import logging
import os
import sys
import time
from pathlib import Path

import pytest

from xiot.config import GlobalOptions, fetch_password, parse_server, profile_names, resolve
from xiot.errors import ConfigError, UsageError
from xiot.runtime import settings_for


def write(path: Path, text: str, mode: int = 0o600) -> Path:
    path.write_text(text)
    path.chmod(mode)
    return path


@pytest.fixture()
def cfg(tmp_path, monkeypatch) -> Path:
    for var in list(os.environ):
        if var.startswith("XIOT_"):
            monkeypatch.delenv(var)
    return write(tmp_path / "config.yaml", """
default_profile: ops
profiles:
  ops:
    jid: ops@plant.example
    server: xmpp.plant.example:5223
    tls: direct
    timeout: 20
    password_env: OPS_SECRET
  other:
    jid: other@plant.example
""")


def test_profile_supplies_values_with_defaults_for_the_rest(cfg):
    s = resolve(GlobalOptions(config=cfg))
    assert (s.profile, s.jid, s.host, s.port, s.tls, s.timeout) == (
        "ops", "ops@plant.example", "xmpp.plant.example", 5223, "direct", 20.0)
    assert s.insecure is False and s.ca is None
    assert s.sources["jid"] == "profile" and s.sources["ca"] == "default"


def test_env_beats_profile_and_flag_beats_env(cfg, monkeypatch):
    monkeypatch.setenv("XIOT_JID", "env@plant.example")
    monkeypatch.setenv("XIOT_TIMEOUT", "5")
    s = resolve(GlobalOptions(config=cfg))
    assert s.jid == "env@plant.example" and s.timeout == 5.0
    s = resolve(GlobalOptions(config=cfg, jid="flag@plant.example", timeout=2))
    assert s.jid == "flag@plant.example" and s.timeout == 2.0
    assert s.sources["jid"] == "flag"


def test_profile_chosen_by_flag_then_env(cfg, monkeypatch):
    monkeypatch.setenv("XIOT_PROFILE", "other")
    assert resolve(GlobalOptions(config=cfg)).jid == "other@plant.example"
    assert resolve(GlobalOptions(config=cfg, profile="ops")).jid == "ops@plant.example"


def test_config_file_from_environment(cfg, monkeypatch):
    monkeypatch.setenv("XIOT_CONFIG", str(cfg))
    assert resolve(GlobalOptions()).profile == "ops"


def test_unknown_profile_names_the_known_ones(cfg):
    with pytest.raises(ConfigError) as info:
        resolve(GlobalOptions(config=cfg, profile="nope"))
    assert "other" in info.value.message and "ops" in info.value.message


def test_unknown_profile_key_is_rejected(tmp_path):
    path = write(tmp_path / "c.yaml", "profiles:\n  x:\n    jdi: a@b\n")
    with pytest.raises(ConfigError) as info:
        resolve(GlobalOptions(config=path, profile="x"))
    assert "jdi" in info.value.message


def test_invalid_yaml_is_a_config_error_with_line(tmp_path):
    path = write(tmp_path / "c.yaml", "profiles:\n  x: [unclosed\n")
    with pytest.raises(ConfigError) as info:
        resolve(GlobalOptions(config=path))
    assert "line" in info.value.message


def test_yaml_is_loaded_safely(tmp_path):
    path = write(tmp_path / "c.yaml", "profiles: !!python/object/apply:os.system ['true']\n")
    with pytest.raises(ConfigError):
        resolve(GlobalOptions(config=path))


def test_bad_values_are_usage_errors(cfg):
    with pytest.raises(UsageError):
        resolve(GlobalOptions(config=cfg, tls="sometimes"))
    with pytest.raises(UsageError):
        resolve(GlobalOptions(config=cfg, timeout=-1))
    with pytest.raises(UsageError):
        resolve(GlobalOptions(config=cfg, server="host:99999"))


@pytest.mark.parametrize("text,expected", [
    ("example.org", ("example.org", None)),
    ("127.0.0.1:5222", ("127.0.0.1", 5222)),
    ("[::1]:5223", ("::1", 5223)),
    ("[::1]", ("::1", None)),
])
def test_parse_server(text, expected):
    assert parse_server(text) == expected


def test_password_from_named_environment_variable(cfg, monkeypatch):
    monkeypatch.setenv("OPS_SECRET", "s3cret")
    s = resolve(GlobalOptions(config=cfg))
    assert fetch_password(s) == "s3cret"
    assert "s3cret" not in repr(s) and "s3cret" not in str(s.to_record())


def test_password_env_unset_is_config_error(cfg, monkeypatch):
    monkeypatch.delenv("OPS_SECRET", raising=False)
    with pytest.raises(ConfigError) as info:
        fetch_password(resolve(GlobalOptions(config=cfg)))
    assert "OPS_SECRET" in info.value.message


def test_password_cmd_output_is_used_and_failure_reported(tmp_path):
    script = write(tmp_path / "pw.py", "print('from-cmd')\n")
    path = write(tmp_path / "c.yaml",
                 f"profiles:\n  a:\n    jid: a@b.example\n"
                 f"    password_cmd: {sys.executable} {script}\n"
                 f"  b:\n    jid: a@b.example\n    password_cmd: {sys.executable} -c 'exit(3)'\n")
    assert fetch_password(resolve(GlobalOptions(config=path, profile="a"))) == "from-cmd"
    with pytest.raises(ConfigError) as info:
        fetch_password(resolve(GlobalOptions(config=path, profile="b")))
    assert "exit status 3" in info.value.message


def test_plain_password_only_from_a_private_file(tmp_path, caplog):
    body = "profiles:\n  p:\n    jid: a@b.example\n    password: hunter2\n"
    private = write(tmp_path / "private.yaml", body, 0o600)
    s = resolve(GlobalOptions(config=private, profile="p"))
    assert fetch_password(s) == "hunter2"
    assert "hunter2" not in str(s.to_record())
    shared = write(tmp_path / "shared.yaml", body, 0o644)
    with caplog.at_level(logging.WARNING, logger="xiot"):
        s = resolve(GlobalOptions(config=shared, profile="p"))
    assert s.credential.source == "prompt"
    assert any("chmod 600" in r.getMessage() for r in caplog.records)


def test_drop_in_profiles_are_read(tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path))
    (tmp_path / "xiot" / "config.d").mkdir(parents=True)
    write(tmp_path / "xiot" / "config.d" / "lab.yaml", "profiles:\n  lab:\n    jid: a@lab.test\n")
    names = [row["profile"] for row in profile_names(GlobalOptions())]
    assert names == ["lab"]


def test_missing_ca_file_is_config_error(cfg, tmp_path):
    with pytest.raises(ConfigError):
        resolve(GlobalOptions(config=cfg, ca=tmp_path / "nope.pem"))


@pytest.mark.parametrize("line,needle", [
    ('insecure: "false"', "'insecure' must be true or false"),
    ("jid: 42", "'jid' must be text"),
    ("server: [a, b]", "'server' must be text"),
    ("password_cmd: [echo, hi]", "'password_cmd' must be text"),
    ("timeout: abc", "'timeout' must be"),
    ("port: yes", "'port' must be a whole number"),
])
def test_profile_values_of_the_wrong_type_are_config_errors(tmp_path, line, needle):
    path = write(tmp_path / "c.yaml", f"profiles:\n  p:\n    {line}\n")
    with pytest.raises(ConfigError) as info:
        resolve(GlobalOptions(config=path, profile="p"))
    assert needle in info.value.message and "profile 'p'" in info.value.message


def test_bad_values_say_where_they_came_from(cfg, monkeypatch, tmp_path):
    path = write(tmp_path / "c.yaml", "profiles:\n  p:\n    tls: sometimes\n    jid: a@b.example\n")
    with pytest.raises(ConfigError) as info:
        resolve(GlobalOptions(config=path, profile="p"))
    assert "profile 'p'" in info.value.message and "'tls'" in info.value.message
    monkeypatch.setenv("XIOT_JID", "not a jid")
    with pytest.raises(ConfigError) as info:
        settings_for(GlobalOptions(config=cfg))
    assert info.value.message.startswith("XIOT_JID:")
    with pytest.raises(UsageError) as usage:
        settings_for(GlobalOptions(config=cfg, jid="a@@b"))
    assert usage.value.message.startswith("--jid:")


def process_gone(pid: int) -> bool:
    """True once ``pid`` has exited (a zombie awaiting its new parent counts as gone)."""
    for _ in range(100):  # bounded: SIGKILL lands within moments
        try:
            state = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()[0]
        except (FileNotFoundError, ProcessLookupError):
            return True
        if state in {"Z", "X"}:
            return True
        time.sleep(0.05)
    return False


def hanging_password_cmd(tmp_path: Path) -> tuple[Path, Path]:
    """A config whose password_cmd starts a sleeping child (pid written to a file) and waits."""
    pid_file = tmp_path / "child.pid"
    path = write(tmp_path / "hang.yaml",
                 "profiles:\n  h:\n    jid: a@b.example\n"
                 f"    password_cmd: sh -c 'sleep 300 & echo $! > {pid_file}; wait'\n")
    return path, pid_file


@pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="needs /proc")
def test_hanging_password_cmd_is_bounded_by_the_timeout_and_its_children_killed(tmp_path):
    path, pid_file = hanging_password_cmd(tmp_path)
    with pytest.raises(ConfigError) as info:
        fetch_password(resolve(GlobalOptions(config=path, profile="h", timeout=1)))
    assert info.value.exit_code == 3
    assert "did not finish within 1 s" in info.value.message
    assert "\n" not in info.value.one_line()
    child = int(pid_file.read_text())
    assert process_gone(child), f"the password command's child {child} is still running"


def test_the_last_config_files_default_profile_wins(tmp_path, monkeypatch):
    """config.yaml is read first, then config.d/*.yaml in name order; like profiles, the
    last file's default_profile wins."""
    for var in list(os.environ):
        if var.startswith("XIOT_"):
            monkeypatch.delenv(var)
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path))
    home = tmp_path / "xiot"
    (home / "config.d").mkdir(parents=True)
    write(home / "config.yaml", "default_profile: mine\nprofiles:\n"
          "  mine:\n    jid: me@plant.example\n")
    write(home / "config.d" / "10-lab.yaml", "default_profile: lab\nprofiles:\n"
          "  lab:\n    jid: ops@lab.test\n")
    write(home / "config.d" / "20-site.yaml", "default_profile: site\nprofiles:\n"
          "  site:\n    jid: ops@site.example\n")
    settings = resolve(GlobalOptions())
    assert (settings.profile, settings.jid) == ("site", "ops@site.example")
    (home / "config.d" / "20-site.yaml").unlink()
    assert resolve(GlobalOptions()).profile == "lab"


def test_server_and_resolver_share_one_host_port_grammar():
    from xiot.xmpp.dns import Nameserver, parse_resolver

    assert parse_server("[::1]:5222") == ("::1", 5222)
    assert parse_resolver("[::1]:5353") == Nameserver("::1", 5353)
    assert parse_server("::1") == ("::1", None) and parse_resolver("::1") == Nameserver("::1")
    for bad in ("[::1", "[::1]x", "host:0", "host:70000", ":5222"):
        with pytest.raises(UsageError):
            parse_server(bad)
        with pytest.raises(UsageError):
            parse_resolver(bad)
