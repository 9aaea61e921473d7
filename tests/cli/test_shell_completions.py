"""The checked-in completion scripts are what the app generates, and they offer the shell."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from tests.helpers import xiot

COMPLETIONS = Path(__file__).resolve().parents[2] / "completions"


@pytest.mark.parametrize("shell", ["bash", "zsh", "fish"])
def test_completion_scripts_are_up_to_date(shell):
    generated = xiot(env=dict(os.environ, _XIOT_COMPLETE=f"source_{shell}"))
    assert generated.code == 0, generated.stderr
    checked_in = (COMPLETIONS / f"xiot.{shell}").read_text()
    assert generated.stdout == checked_in, (
        f"completions/xiot.{shell} is out of date: regenerate it with "
        f"'_XIOT_COMPLETE=source_{shell} xiot > completions/xiot.{shell}'")


def test_bash_completion_offers_the_shell_and_its_options():
    env = dict(os.environ, _XIOT_COMPLETE="complete_bash", COMP_WORDS="xiot sh", COMP_CWORD="1")
    assert "shell" in xiot(env=env).stdout.split()
    env.update(COMP_WORDS="xiot shell --co", COMP_CWORD="2")
    assert xiot(env=env).stdout.split() == ["--command"]
