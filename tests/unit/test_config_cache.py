"""Parsed config files are cached so a command need not import YAML; edits are noticed."""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys

import pytest

from xiot.config import GlobalOptions, resolve


@pytest.fixture()
def home(tmp_path, monkeypatch):
    for var in list(os.environ):
        if var.startswith("XIOT_"):
            monkeypatch.delenv(var)
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "config"))
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    (tmp_path / "config" / "xiot").mkdir(parents=True)
    path = tmp_path / "config" / "xiot" / "config.yaml"
    path.write_text("default_profile: a\nprofiles:\n  a:\n    jid: a@x.test\n")
    path.chmod(0o600)
    return tmp_path


PROBE = ("import sys; from xiot.config import GlobalOptions, resolve; "
         "print(resolve(GlobalOptions()).jid, 'yaml' in sys.modules)")


def _resolve_in_a_new_process() -> str:
    return subprocess.run([sys.executable, "-c", PROBE], capture_output=True, text=True,
                          check=True, env=dict(os.environ)).stdout.strip()


def test_a_second_run_needs_no_yaml_and_an_edit_is_seen(home):
    assert _resolve_in_a_new_process() == "a@x.test True"
    assert _resolve_in_a_new_process() == "a@x.test False"
    path = home / "config" / "xiot" / "config.yaml"
    path.write_text("default_profile: a\nprofiles:\n  a:\n    jid: changed@x.test\n")
    assert _resolve_in_a_new_process() == "changed@x.test True"


def test_the_cache_is_private_and_a_broken_one_is_ignored(home):
    resolve(GlobalOptions())
    cache = home / "cache" / "xiot" / "config-cache.json"
    assert stat.S_IMODE(cache.stat().st_mode) == 0o600
    cache.write_text("{not json")
    assert resolve(GlobalOptions()).jid == "a@x.test"
    assert json.loads(cache.read_text())  # rebuilt


def test_cached_content_is_still_checked(home):
    path = home / "config" / "xiot" / "config.yaml"
    path.write_text("profiles:\n  a:\n    jid: a@x.test\n    colour: blue\n")
    from xiot.errors import ConfigError

    for _ in range(2):  # the first parse fills the cache, the second reads it
        with pytest.raises(ConfigError, match="unknown key"):
            resolve(GlobalOptions(profile="a"))
