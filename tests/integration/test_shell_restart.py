"""A server restart under the interactive shell: the toolbar says so, the shell reconnects,
and the prompt (with its half-typed line) is never lost.  Its own lab: this one is killed."""

from __future__ import annotations

import contextlib
import os
import signal
import time

from tests.helpers import xiot_command
from tests.terminal import Terminal
from xiot.lab import manager


def test_the_shell_survives_a_server_restart(tmp_path):
    lab, _ = manager.up(name="shellcrash", devices=2)
    env = dict(os.environ, XIOT_PROFILE="shellcrash", XDG_STATE_HOME=str(tmp_path))
    try:
        with Terminal([xiot_command(), "--no-color", "shell"], env) as term:
            term.wait_for("connected as admin@xiot.test/")
            # no command yet: the warnings of the stream itself must go above the prompt too
            term.keys("disc")  # half typed when the server goes
            term.wait_for("xiot> disc")
            os.kill(lab.pid, signal.SIGKILL)
            with contextlib.suppress(ChildProcessError):
                os.waitpid(lab.pid, 0)
            screen = term.wait_for("connection lost: reconnecting")  # the toolbar
            assert "lost" in screen.split("xiot> disc")[0], screen  # said above the prompt
            prompts = [line for line in screen.splitlines() if line.startswith("xiot>")]
            assert prompts == ["xiot> disc"], screen
            _, started = manager.up(name="shellcrash")
            assert started
            screen = term.wait_for("reconnected", timeout=60)
            assert "xiot> disc" in screen
            term.keys("C-u", "ping -o ndjson", "Enter")
            deadline = time.monotonic() + 30
            while term.screen().count('"status":"ok"') < 1 and time.monotonic() < deadline:
                time.sleep(0.2)
            assert term.screen().count('"status":"ok"') == 1, term.screen()
            term.keys("C-d")
            assert "EXIT=0" in term.wait_for("EXIT=")
    finally:
        manager.down("shellcrash")
