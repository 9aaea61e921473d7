"""Ctrl-C while a lab process is spawned waits until its pid is recorded."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading

import pytest

from xiot.lab.prosody import interrupts_deferred


def test_ctrl_c_inside_is_raised_after_the_block():
    done: list[str] = []
    with pytest.raises(KeyboardInterrupt), interrupts_deferred():
        os.kill(os.getpid(), signal.SIGINT)
        done.append("recorded")  # still runs: the pid gets written
    assert done == ["recorded"]
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler


def test_no_ctrl_c_no_exception_and_the_handler_is_restored():
    with interrupts_deferred():
        pass
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler


def test_a_child_started_inside_still_stops_on_sigint():
    """The child must not inherit a blocked or ignored SIGINT (lab processes are stopped by
    signals)."""
    with interrupts_deferred():
        child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)"])
    try:
        child.send_signal(signal.SIGINT)
        assert child.wait(timeout=20) != 0
    finally:
        if child.poll() is None:
            child.kill()
            child.wait()


def test_outside_the_main_thread_it_is_a_no_op():
    errors: list[BaseException] = []

    def run() -> None:
        try:
            with interrupts_deferred():
                pass
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    thread = threading.Thread(target=run)
    thread.start()
    thread.join(10)
    assert errors == []
