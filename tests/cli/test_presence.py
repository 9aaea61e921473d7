"""``xiot presence`` end to end: usage errors, and the live view a person sees on a terminal."""

from __future__ import annotations

import asyncio
import os
import shlex
import shutil
import subprocess
import time
import uuid

import pytest

from tests.helpers import lab_settings, xiot, xiot_command, xiot_here
from xiot.xmpp.session import Session


@pytest.mark.parametrize(("args", "says"), [
    (["snapshot", "--shard", "3/2"], "--shard 3/2: K must be between 1 and N"),
    (["watch", "--shard", "half"], "is not K/N"),
    (["snapshot", "--source", "server", "--group", "devices"], "--group needs the roster"),
    (["snapshot", "--source", "everything"], "--source everything"),
    (["snapshot", "--expect-online", "/nonexistent/list"], "cannot read /nonexistent/list"),
    (["set", "asleep"], "cannot set presence 'asleep'"),
    (["set", "away", "--priority", "300"], "--priority 300 is out of range"),
])
def test_bad_input_is_exit_2_before_connecting(args, says):
    result = xiot_here("--jid", "nobody@example.invalid", "presence", *args)
    line = result.assert_clean_error(2)
    assert says in line


def test_expect_online_with_a_bad_jid_is_exit_2(lab_env):
    result = xiot("presence", "snapshot", "--expect-online", "-", env=lab_env,
                  stdin="dev0001@xiot.test\nnot a jid@@\n")
    assert "not a jid@@" in result.assert_clean_error(2)


class Terminal:
    """One tmux session on a private server socket; the screen is read with capture-pane."""

    def __init__(self, argv: list[str], env: dict[str, str]) -> None:
        if shutil.which("tmux") is None:
            pytest.skip("tmux is not installed")
        self.socket = f"xiot-presence-{uuid.uuid4().hex[:8]}"
        exports = " ".join(f"{k}={shlex.quote(v)}" for k, v in env.items()
                           if k.startswith(("XIOT_", "XDG_", "PATH", "HOME")))
        # The shell survives a Ctrl-C (it runs its trap) so the command's exit status and
        # last screen stay readable; the command itself gets the default SIGINT behaviour.
        command = (f"trap true INT; env {exports} TERM=xterm-256color {shlex.join(argv)}; "
                   "echo EXIT=$?")
        self._tmux("new-session", "-d", "-x", "120", "-y", "40", "-s", "t", "sh", "-c",
                   command + "; sleep 30")

    def _tmux(self, *args: str) -> str:
        return subprocess.run(["tmux", "-L", self.socket, *args], capture_output=True,
                              text=True, timeout=10, env=dict(os.environ, TMUX="")).stdout

    def screen(self) -> str:
        return self._tmux("capture-pane", "-p", "-t", "t")

    def wait_for(self, text: str, timeout: float = 30) -> str:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            shown = self.screen()
            if text in shown:
                return shown
            time.sleep(0.2)
        raise AssertionError(f"{text!r} never appeared; the screen:\n{self.screen()}")

    def keys(self, *keys: str) -> None:
        self._tmux("send-keys", "-t", "t", *keys)

    def __enter__(self) -> Terminal:
        return self

    def __exit__(self, *exc: object) -> None:
        self._tmux("kill-server")


def _flap(lab_accounts: dict, user: str, times: int) -> None:
    """Log a device in and out ``times`` times: 2 x times changes, enough to flap."""
    account = lab_accounts[user]

    async def main() -> None:
        settings = lab_settings("testlab").with_jid(f"{account.jid}/flap")
        for _ in range(times):
            async with Session(settings, password=account.password, send_presence=True):
                await asyncio.sleep(0.3)
            await asyncio.sleep(0.3)

    asyncio.run(main())


def test_watch_on_a_terminal_redraws_counts_and_recent_changes(fleet, lab_env, lab_accounts):
    argv = [xiot_command(), "--no-color", "presence", "watch"]
    with Terminal(argv, lab_env) as term:
        screen = term.wait_for("waiting for changes")
        assert "online 30/50:" in screen and "available 30" in screen
        assert "unavailable 20" in screen
        _flap(lab_accounts, "dev0044", 2)
        screen = term.wait_for("FLAPPING")
        lines = [line for line in screen.splitlines() if "dev0044@xiot.test" in line]
        assert len(lines) == 4, screen
        # newest first: the last change (back offline) is the top row
        assert "available → unavailable" in lines[0] and "unavailable → available" in lines[1]
        assert screen.count("presence watch") == 1  # one view, redrawn in place
        assert "4 changes" in screen and "1 flapping" in screen
        term.keys("C-c")
        screen = term.wait_for("EXIT=")
    assert "EXIT=130" in screen
    assert "watched " in screen and "4 changes; now 30 available, 20 unavailable" in screen
    assert "flapping: dev0044@xiot.test" in screen and "xiot: interrupted" in screen
