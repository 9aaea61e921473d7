"""Helpers for the presence tests: a watcher process read line by line, and side fleets.

A side fleet is a ``Fleet`` of chosen lab accounts on its own background loop (the session
fleet, dev0001..dev0030, stays calm for the other tests); it churns when asked to.
"""

from __future__ import annotations

import contextlib
import json
import queue
import signal
import subprocess
import threading
import time
from collections.abc import Callable, Iterator

from tests.fleet import FleetThread
from tests.helpers import lab_settings, xiot_command
from xiot.sim.fleet import Fleet, FleetOptions, SimAccount


class Stream:
    """``xiot ARGS`` running, its stdout read as NDJSON records as they come."""

    def __init__(self, args: list[str], env: dict[str, str]) -> None:
        self.proc = subprocess.Popen([xiot_command(), *args], env=env, stdout=subprocess.PIPE,
                                     stderr=subprocess.PIPE, text=True)
        self.records: list[dict] = []
        self._lines: queue.Queue[str | None] = queue.Queue()
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()
        self._errors: list[str] = []
        self._err_reader = threading.Thread(target=self._read_errors, daemon=True)
        self._err_reader.start()
        self.stderr = ""
        self.code: int | None = None

    def _read_errors(self) -> None:
        assert self.proc.stderr is not None
        for line in self.proc.stderr:
            self._errors.append(line)

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            self._lines.put(line)
        self._lines.put(None)

    def _drain(self, wait: float) -> bool:
        """Take what has arrived; False once stdout has ended."""
        try:
            line = self._lines.get(timeout=wait)
        except queue.Empty:
            return True
        while True:
            if line is None:
                return False
            if line.strip():
                self.records.append(json.loads(line))
            try:
                line = self._lines.get_nowait()
            except queue.Empty:
                return True

    def wait_for(self, predicate: Callable[[list[dict]], bool], timeout: float = 30,
                 what: str = "") -> list[dict]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if predicate(self.records):
                return self.records
            if not self._drain(0.1) and not predicate(self.records):
                break
        raise AssertionError(f"never saw {what or predicate}: {self.records[-10:]}\n"
                             f"stderr: {self.finish(signal.SIGINT)[1]}")

    def finish(self, sig: int | None = None, timeout: float = 30) -> tuple[int, str]:
        if sig is not None and self.proc.poll() is None:
            self.proc.send_signal(sig)
        # both pipes are read by their own threads: communicate() would race them for lines
        try:
            self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        self._reader.join(5)
        self._err_reader.join(5)
        while self._drain(0):
            pass
        self.stderr = "".join(self._errors)
        self.code = self.proc.returncode
        return self.code, self.stderr


def initial(records: list[dict]) -> dict[str, dict]:
    return {r["jid"]: r for r in records if r["event"] == "initial"}


@contextlib.contextmanager
def side_fleet(profile: str, accounts: list[SimAccount], **options) -> Iterator[FleetThread]:
    runner = FleetThread(Fleet(lab_settings(profile), accounts, FleetOptions(**options)))
    runner.start()
    try:
        yield runner
    finally:
        runner.stop()


def sim_accounts(lab_accounts: dict, users: list[str]) -> list[SimAccount]:
    return [SimAccount(lab_accounts[u].jid, lab_accounts[u].password) for u in users]
