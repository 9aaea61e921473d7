"""A private lab and device simulator for benchmarks, always torn down afterwards.

``lab_with_sim`` points XDG_CONFIG_HOME, XDG_STATE_HOME and XIOT_LAB_HOME at a fresh temporary
directory (so a benchmark never touches the user's labs or profiles), starts a lab with
``xiot.lab.manager.up``, runs ``xiot sim run`` in a process of its own, waits for its
"N devices online" line, and on the way out (normal end, error, Ctrl-C or SIGTERM) stops the
simulator by its pid, takes the lab down and removes the directory.
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import signal
import subprocess
import sys
import sysconfig
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

#: Environment variables that are kept from the caller; every other XIOT_* is dropped so a
#: user's XIOT_PROFILE, XIOT_SERVER or XIOT_PASSWORD cannot leak into the measurement.
KEEP_XIOT = ("XIOT_PROSODY",)
ONLINE = re.compile(r"(\d+) devices online, (\d+) failed")


@dataclass(frozen=True)
class LabRun:
    """A running lab with its simulator: what a benchmark needs to reach both."""

    lab: Any  # xiot.lab.manager.Lab
    env: dict[str, str]  # environment for child processes (private XDG dirs)
    tmp: Path  # private scratch directory, removed at the end
    admin_jid: str
    admin_password: str
    sim_pid: int
    sim_seconds: float  # from starting the simulator to its "online" line
    online: int


def as_installed() -> None:
    """Time xiot as a user's install runs it: with bytecode, whatever the environment says.

    ``pip install`` compiles every module, and the slixmpp a yardstick script imports was
    compiled that way; but an editable checkout under ``PYTHONDONTWRITEBYTECODE`` (common in
    containers) recompiles xiot's sources in every process, ~45 ms that no user pays.  So the
    benchmarks compile xiot's sources first and let their child processes use the bytecode.
    """
    import compileall

    import xiot

    compileall.compile_dir(str(Path(xiot.__file__).parent), quiet=1)
    os.environ.pop("PYTHONDONTWRITEBYTECODE", None)


def xiot_executable() -> str:
    """The ``xiot`` console script of this interpreter's environment.

    Preferred over a ``PATH`` look-up, which may find a version manager's shim (pyenv's costs
    ~70 ms per start) rather than xiot itself.
    """
    script = Path(sysconfig.get_path("scripts")) / "xiot"
    if script.is_file() and os.access(script, os.X_OK):
        return str(script)
    found = shutil.which("xiot")
    if not found:
        sys.exit("xiot is not installed for this Python: pip install -e .")
    return found


@contextlib.contextmanager
def _private_environment(prefix: str) -> Iterator[tuple[Path, dict[str, str]]]:
    tmp = Path(tempfile.mkdtemp(prefix=prefix))
    saved = dict(os.environ)
    env = {k: v for k, v in os.environ.items() if not k.startswith("XIOT_") or k in KEEP_XIOT}
    env.update(
        XDG_CONFIG_HOME=str(tmp / "config"),
        XDG_STATE_HOME=str(tmp / "state"),
        XIOT_LAB_HOME=str(tmp / "labs"),
        NO_COLOR="1",
    )
    os.environ.clear()
    os.environ.update(env)
    try:
        yield tmp, env
    finally:
        os.environ.clear()
        os.environ.update(saved)
        shutil.rmtree(tmp, ignore_errors=True)


def _sigterm_as_exit(signum: int, frame: object) -> None:
    raise SystemExit(128 + signum)


def _stop(proc: subprocess.Popen[bytes], grace: float = 30.0) -> None:
    """SIGTERM the simulator (it closes its devices' streams), SIGKILL if it lingers."""
    if proc.poll() is not None:
        return
    proc.send_signal(signal.SIGTERM)
    try:
        proc.wait(grace)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(10)


def _wait_online(proc: subprocess.Popen[bytes], log: Path, devices: int,
                 timeout: float) -> int:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        text = log.read_text(errors="replace") if log.exists() else ""
        found = ONLINE.search(text)
        if found:
            online, failed = int(found.group(1)), int(found.group(2))
            if online != devices or failed:
                raise RuntimeError(f"simulator: {online} devices online, {failed} failed "
                                   f"(wanted {devices}):\n{text[-2000:]}")
            return online
        if proc.poll() is not None:
            raise RuntimeError(f"simulator exited with {proc.returncode}:\n{text[-2000:]}")
        time.sleep(0.1)
    raise RuntimeError(f"simulator not ready within {timeout:.0f} s")


@contextlib.contextmanager
def lab_with_sim(name: str, devices: int, kinds: str = "thermometer",
                 seed: int = 1) -> Iterator[LabRun]:
    """A lab called ``name`` with ``devices`` accounts, all online in a simulator process."""
    from xiot.lab import manager

    xiot = xiot_executable()
    previous = signal.signal(signal.SIGTERM, _sigterm_as_exit)
    try:
        with _private_environment(f"xiot-bench-{name}-") as (tmp, env):
            sim: subprocess.Popen[bytes] | None = None
            try:
                lab, _ = manager.up(name=name, devices=devices)
                admin = next(a for a in manager.accounts(lab) if a.role == "admin")
                log = tmp / "sim.log"
                started = time.perf_counter()
                with log.open("wb") as stderr:
                    sim = subprocess.Popen(
                        [xiot, "sim", "run", "--lab", name, "--kinds", kinds, "--seed",
                         str(seed), "-o", "ndjson"],
                        stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=stderr,
                        env=env, start_new_session=True,
                    )
                online = _wait_online(sim, log, devices, timeout=60 + 0.2 * devices)
                yield LabRun(lab, env, tmp, admin.jid, admin.password, sim.pid,
                             time.perf_counter() - started, online)
            finally:
                if sim is not None:
                    _stop(sim)
                manager.down(name)
    finally:
        signal.signal(signal.SIGTERM, previous)


def cpu_seconds(pid: int) -> float:
    """User plus system CPU seconds of a running process so far (Linux /proc; 0 elsewhere)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
