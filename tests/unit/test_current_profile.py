"""'xiot config use': the current profile sits between XIOT_PROFILE and default_profile."""

from __future__ import annotations

import os

import pytest

from tests.helpers import xiot_here
from xiot.config import GlobalOptions, resolve
from xiot.config.files import read_current_profile, write_current_profile


@pytest.fixture()
def home(tmp_path, monkeypatch):
    for var in list(os.environ):
        if var.startswith("XIOT_"):
            monkeypatch.delenv(var)
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path))
    (tmp_path / "xiot").mkdir()
    (tmp_path / "xiot" / "config.yaml").write_text(
        "default_profile: a\nprofiles:\n  a:\n    jid: a@x.test\n  b:\n    jid: b@x.test\n")
    return tmp_path


def test_current_profile_beats_default_profile_but_not_flag_or_env(home, monkeypatch):
    assert resolve(GlobalOptions()).profile == "a"
    write_current_profile("b")
    settings = resolve(GlobalOptions())
    assert settings.profile == "b" and settings.sources["profile"].startswith("current")
    assert resolve(GlobalOptions(profile="a")).profile == "a"
    monkeypatch.setenv("XIOT_PROFILE", "a")
    assert resolve(GlobalOptions()).profile == "a"
    write_current_profile(None)
    assert read_current_profile() is None


def test_config_use_command(home):
    env = dict(os.environ)
    assert xiot_here("config", "use", "b", env=env).code == 0
    assert read_current_profile() == "b"
    rows = xiot_here("config", "profiles", env=env).ndjson()
    assert [r["profile"] for r in rows if r["default"]] == ["b"]
    bad = xiot_here("config", "use", "nope", env=env)
    assert bad.assert_clean_error(3).startswith("xiot: unknown profile 'nope' (known: a, b)")
    assert read_current_profile() == "b"
    assert xiot_here("config", "use", "--clear", env=env).code == 0
    assert read_current_profile() is None
    xiot_here("config", "use", env=env).assert_clean_error(2)
