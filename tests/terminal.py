"""Run a command in a real pseudo-terminal (tmux) and read the screen a person would see."""

from __future__ import annotations

import os
import shlex
import shutil
import subprocess
import time
import uuid

import pytest


class Terminal:
    """One tmux session on a private server socket; the screen is read with capture-pane."""

    def __init__(self, argv: list[str], env: dict[str, str], width: int = 120,
                 height: int = 40) -> None:
        if shutil.which("tmux") is None:
            pytest.skip("tmux is not installed (scripts/setup installs it)")
        self.socket = f"xiot-test-{uuid.uuid4().hex[:8]}"
        exports = " ".join(f"{k}={shlex.quote(v)}" for k, v in env.items()
                           if k.startswith(("XIOT_", "XDG_", "PATH", "HOME", "NO_COLOR")))
        # The shell ignores Ctrl-C (sent with keys("C-c")) so that the command's last screen
        # and its exit status stay readable; the command gets the default SIGINT behaviour.
        command = (f"trap true INT; env {exports} TERM=xterm-256color {shlex.join(argv)}; "
                   "echo EXIT=$?")
        self._tmux("new-session", "-d", "-x", str(width), "-y", str(height), "-s", "t",
                   "sh", "-c", command + "; sleep 30")

    def _tmux(self, *args: str) -> str:
        done = subprocess.run(["tmux", "-L", self.socket, *args], capture_output=True,
                              text=True, timeout=10, env=dict(os.environ, TMUX=""))
        return done.stdout

    def screen(self) -> str:
        return self._tmux("capture-pane", "-p", "-t", "t")

    def wait_for(self, text: str, timeout: float = 30) -> str:
        """The screen once ``text`` is on it (fails the test after ``timeout`` seconds)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            shown = self.screen()
            if text in shown:
                return shown
            time.sleep(0.2)
        raise AssertionError(f"{text!r} never appeared; the screen:\n{self.screen()}")

    def keys(self, *keys: str) -> None:
        self._tmux("send-keys", "-t", "t", *keys)

    def close(self) -> None:
        self._tmux("kill-server")

    def __enter__(self) -> Terminal:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
