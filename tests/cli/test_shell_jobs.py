"""Background jobs in ``xiot shell``, end to end: at the prompt in a real pseudo-terminal
(tmux), and in scripts, against the lab with simulated devices."""

from __future__ import annotations

import re
import time

from tests.helpers import xiot, xiot_command
from tests.terminal import Terminal

ROW = re.compile(r"^\[1\] dev0001@xiot\.test/sim \w+=\S+", re.M)


def _env(lab_env: dict[str, str], tmp_path) -> dict[str, str]:
    return dict(lab_env, XDG_STATE_HOME=str(tmp_path / "state"))


def test_a_background_watch_prints_above_a_half_typed_line(fleet, lab_env, tmp_path):
    with Terminal([xiot_command(), "--no-color", "shell"], _env(lab_env, tmp_path)) as term:
        term.wait_for("online,")
        term.keys("readout dev0001@xiot.test --watch 1 &", "Enter")
        term.wait_for("[1] readout dev0001@xiot.test --watch 1")
        term.wait_for("1 job running")  # the toolbar
        term.keys("control dev00")  # half typed while rows arrive
        screen = term.wait_for("[1] dev0001@xiot.test/sim Temperature=")
        rows = len(ROW.findall(screen))
        deadline = time.monotonic() + 20  # another round arrives (the watch runs every 1 s)
        while len(ROW.findall(screen)) <= rows and time.monotonic() < deadline:
            time.sleep(0.2)
            screen = term.screen()
        assert len(ROW.findall(screen)) > rows, screen
        prompts = [line for line in screen.splitlines() if line.startswith("xiot>")]
        assert prompts[-1] == "xiot> control dev00"  # the half line, intact, below the rows
        last_row = max(m.start() for m in ROW.finditer(screen))
        assert last_row < screen.rindex("xiot> control dev00")
        assert "°C" in screen and '{"jid"' not in screen  # readable lines, not NDJSON

        term.keys("C-u", "jobs", "Enter")
        screen = term.wait_for("lines  readout dev0001@xiot.test --watch 1")
        assert re.search(r"^\[1\]  running +\d+s +\d+ lines  readout", screen, re.M), screen
        term.keys("kill 1", "Enter")
        screen = term.wait_for("[1] stopped readout dev0001@xiot.test --watch 1")
        assert "interrupted" not in screen

        term.keys("ping -c 1 -o ndjson", "Enter")  # the foreground still works
        term.wait_for('"status":"ok"')
        term.keys("readout dev0002@xiot.test --watch 1 &", "Enter")
        term.wait_for("[2] dev0002@xiot.test/sim ")
        term.keys("C-d")
        screen = term.wait_for("EXIT=")
    assert "EXIT=0" in screen
    assert "[2] stopped readout dev0002@xiot.test --watch 1" in screen
    assert "stopped 1 background job" in screen


def test_ctrl_c_on_a_foreground_command_leaves_the_job_running(fleet, lab_env, tmp_path):
    with Terminal([xiot_command(), "--no-color", "shell"], _env(lab_env, tmp_path)) as term:
        term.wait_for("online,")
        term.keys("use dev0003@xiot.test", "Enter")
        term.keys("readout --watch 1 -o ndjson &", "Enter")  # the context, an explicit format
        term.wait_for("[1] readout dev0003@xiot.test --watch 1 -o ndjson")
        term.wait_for('[1] {"jid":"dev0003@xiot.test/sim"')
        term.keys("ping -c 100 -i 1 -o ndjson", "Enter")
        screen = term.wait_for('"seq":3')
        # The foreground command owns the screen: the job's lines wait for the prompt.
        assert '[1] {"jid"' not in screen.split("xiot dev0003@xiot.test> ping -c 100")[1]
        term.keys("C-c")
        term.wait_for("interrupted")
        deadline = time.monotonic() + 20
        while '[1] {"jid"' not in screen.split("interrupted")[-1] and (
                time.monotonic() < deadline):
            time.sleep(0.2)
            screen = term.screen()
        assert '[1] {"jid"' in screen.split("interrupted")[-1], screen  # then they come
        term.keys("C-c")  # and at the prompt
        term.keys("jobs", "Enter")
        screen = term.wait_for("lines  readout dev0003@xiot.test")
        assert re.search(r"^\[1\]  running ", screen, re.M), screen
        term.keys("exit", "Enter")
        screen = term.wait_for("EXIT=")
    assert "EXIT=0" in screen and "stopped 1 background job" in screen


def test_a_script_waits_for_a_background_watch_and_shows_its_rows(fleet, lab_env):
    result = xiot("shell", "-c", "readout dev0001@xiot.test --watch 1 --rounds 2 &; wait 1",
                  env=lab_env)
    assert result.code == 0, result.stderr
    rows = result.stdout.splitlines()
    assert rows and all(ROW.match(row) for row in rows), result.stdout
    assert len([r for r in rows if " Temperature=" in r]) == 2  # two rounds
    assert "[1] readout dev0001@xiot.test --watch 1 --rounds 2" in result.stderr
    assert "[1] done (exit 0) readout dev0001@xiot.test --watch 1 --rounds 2" in result.stderr


def test_wait_returns_a_failed_jobs_code_and_the_script_stops_there(fleet, lab_env):
    result = xiot("shell", "-c", "readout dev0047@xiot.test &; wait 1; ping -o ndjson",
                  env=lab_env)
    assert result.code == 1  # dev0047 is offline: readout's exit code, through wait
    assert "[1] dev0047@xiot.test status=offline" in result.stdout
    assert "[1] failed (exit 1) readout dev0047@xiot.test" in result.stderr
    assert '"status":"ok"' not in result.stdout  # the script stopped at the wait

    result = xiot("shell", "-c", "readout 'not a jid' &; wait 1", env=lab_env)
    assert result.code == 2
    assert "[1] failed (exit 2) readout 'not a jid': malformed JID 'not a jid'" in (
        result.stderr)


def test_a_job_that_fails_unwaited_leaves_the_scripts_code_alone(fleet, lab_env):
    result = xiot("shell", "-c", "readout dev0047@xiot.test &\n"
                  "readout dev0001@xiot.test --watch 1 &\nping -c 2 -o ndjson", env=lab_env)
    assert result.code == 0, result.stderr
    assert "[1] failed (exit 1) readout dev0047@xiot.test" in result.stderr
    assert "[2] stopped readout dev0001@xiot.test --watch 1" in result.stderr
    assert result.stderr.rstrip().endswith("xiot: stopped 1 background job")
    assert sum('"status":"ok"' in line for line in result.stdout.splitlines()) == 2


def test_a_background_watch_goes_on_after_the_shell_reconnects(tmp_path):
    """Its own lab (this one is killed), without simulated devices: the rows say offline."""
    import contextlib
    import os
    import signal

    from xiot.lab import manager

    lab, _ = manager.up(name="jobcrash", devices=2)
    env = dict(os.environ, XIOT_PROFILE="jobcrash", XDG_STATE_HOME=str(tmp_path))
    try:
        with Terminal([xiot_command(), "--no-color", "shell"], env, height=60) as term:
            term.wait_for("connected as admin@xiot.test/")
            term.keys("readout dev0001@xiot.test --watch 1 &", "Enter")
            term.wait_for("[1] dev0001@xiot.test status=offline")
            term.keys("disc")
            os.kill(lab.pid, signal.SIGKILL)
            with contextlib.suppress(ChildProcessError):
                os.waitpid(lab.pid, 0)
            screen = term.wait_for("going on once the shell has reconnected")
            assert "[1] failed" not in screen
            term.wait_for("connection lost: reconnecting | 1 job running")  # the toolbar
            _, started = manager.up(name="jobcrash")
            assert started
            term.wait_for("reconnected", timeout=60)
            deadline = time.monotonic() + 30
            after = ""
            while "[1] dev0001@xiot.test status=offline" not in after and (
                    time.monotonic() < deadline):
                time.sleep(0.2)
                after = term.screen().split("xiot: reconnected", 1)[-1]
            assert "[1] dev0001@xiot.test status=offline" in after, term.screen()
            assert "xiot> disc" in term.screen()
            term.keys("C-u", "ping -o ndjson", "Enter")  # the shell's own connection works
            term.wait_for('"status":"ok"')
            term.keys("C-d")
            screen = term.wait_for("EXIT=")
            assert "EXIT=0" in screen and "[1] stopped readout" in screen
    finally:
        manager.down("jobcrash")
