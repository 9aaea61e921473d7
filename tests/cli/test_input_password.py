"""A password command that hangs: bounded by --timeout, one line, exit 3, nothing left behind."""

from __future__ import annotations

import os
import socket
from pathlib import Path

import pytest

from tests.helpers import xiot
from tests.unit.test_config import hanging_password_cmd, process_gone


@pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="needs /proc")
def test_hanging_password_cmd_exits_3_and_leaves_no_child(tmp_path):
    config, pid_file = hanging_password_cmd(tmp_path)
    with socket.socket() as sock:  # a server that refuses: connecting would exit 4
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    env = dict(os.environ)
    env.pop("XIOT_PASSWORD", None)
    result = xiot("--config", str(config), "--profile", "h", "--server", f"127.0.0.1:{port}",
                  "--timeout", "1", "ping", env=env)
    line = result.assert_clean_error(3)
    assert "password_cmd did not finish within 1 s" in line
    child = int(pid_file.read_text())
    assert process_gone(child), f"the password command's child {child} is still running"
