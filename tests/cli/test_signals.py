"""Ctrl-C: exit 130, 'interrupted' on stderr, and what was printed stays valid."""

from __future__ import annotations

import signal
import subprocess
import time

from tests.helpers import xiot_command


def test_ctrl_c_during_ping_prints_the_summary_and_interrupted(lab_env):
    proc = subprocess.Popen([xiot_command(), "-o", "table", "ping", "-c", "1000", "-i", "0.2"],
                            env=lab_env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True)
    time.sleep(1.5)
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=20)
    assert proc.returncode == 130
    assert err.strip().splitlines()[-1] == "xiot: interrupted"
    assert "pong from xiot.test: seq=1 " in out
    assert "--- xiot.test ping statistics ---" in out and "1000 sent" not in out
