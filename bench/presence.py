"""Fleet presence: how soon ``xiot presence snapshot`` has a settled view of N devices, against
how soon the server delivers every contact's presence to a bare slixmpp client.

Budget (DESIGN.md): a 10,000-device fleet reaches a settled view within 1.5x the time the
server needs to deliver all presences; the watcher stays under 200 MB resident.

For each size a private lab (Prosody on loopback, N device accounts, the operator subscribed
to all) is started in a temporary directory, and ``xiot sim run --processes P`` runs the
fleet in P simulator processes of about 1,000 devices each, with churn (devices flapping).
Both clients are whole processes, timed from start until they have the whole fleet, in
alternating order, median of the runs:

- bare slixmpp: log in, read the roster, send initial presence, count the contacts that sent
  any presence; done when every contact with a 'to'/'both' subscription has;
- ``xiot presence snapshot --no-last -o ndjson``: done when its N rows have arrived (the first
  run fetches the roster; later runs have it from the XEP-0237 cache, shown separately).

Then ``xiot presence watch -o ndjson`` runs for --watch-seconds under the churn: its peak
resident memory (VmHWM) and its CPU per presence change after the view settled.

    python bench/presence.py [--sizes 1000,10000] [--runs 3] [--churn 0.02]

Loopback only; every process is bounded in time and everything is torn down at the end.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import math
import os
import re
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

from _lab import _private_environment, _sigterm_as_exit, _stop, cpu_seconds, xiot_executable

RUN_TIMEOUT = 300.0
ONLINE = re.compile(r"sim(?:\[\d+/\d+\])?: (\d+) devices online, (\d+) failed")

BARE = r'''
import asyncio, ssl, sys, time
import slixmpp

jid, host, port, ca = sys.argv[1:5]
password = sys.stdin.readline().strip()


class Bare(slixmpp.ClientXMPP):
    def __init__(self):
        super().__init__(jid, password, ssl_context=ssl.create_default_context(cafile=ca))
        self.seen = set()
        self.expected = None
        self.done = asyncio.get_event_loop().create_future()
        self.add_event_handler("session_start", self.start)
        self.add_event_handler("presence", self.on_presence)

    async def start(self, _):
        roster = await self.get_roster(timeout=120)
        self.expected = {str(j) for j, item in roster["roster"]["items"].items()
                         if item["subscription"] in ("to", "both")}
        self.send_presence(ppriority=-1)
        self.check()

    def on_presence(self, presence):
        if presence["type"] in ("available", "unavailable", "away", "xa", "dnd", "chat"):
            self.seen.add(presence["from"].bare)
            self.check()

    def check(self):
        if self.expected is not None and self.expected <= self.seen and not self.done.done():
            self.done.set_result(len(self.expected))


async def main():
    xmpp = Bare()
    xmpp.enable_plaintext = False
    xmpp.connect(host, int(port))
    count = await asyncio.wait_for(xmpp.done, 280)
    print(f"done {count}", flush=True)
    xmpp.abort()

asyncio.run(main())
'''


def _median(values: list[float]) -> float:
    return statistics.median(values) if values else math.nan


@contextlib.contextmanager
def fleet(name: str, devices: int, churn: float, per_process: int) -> Iterator[dict]:
    """A lab of ``devices`` accounts, all online in simulator processes, torn down after."""
    from xiot.lab import manager

    xiot = xiot_executable()
    previous = signal.signal(signal.SIGTERM, _sigterm_as_exit)
    try:
        with _private_environment(f"xiot-bench-{name}-") as (tmp, env):
            sim = None
            try:
                started = time.perf_counter()
                lab, _ = manager.up(name=name, devices=devices)
                lab_seconds = time.perf_counter() - started
                admin = next(a for a in manager.accounts(lab) if a.role == "admin")
                processes = max(1, math.ceil(devices / per_process))
                log = tmp / "sim.log"
                started = time.perf_counter()
                with log.open("wb") as stderr:
                    sim = subprocess.Popen(
                        [xiot, "sim", "run", "--lab", name, "--kinds", "thermometer",
                         "--seed", "1", "--churn", str(churn), "--processes", str(processes),
                         "-o", "ndjson"], stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                        stderr=stderr, env=env, start_new_session=True)
                _wait_online(sim, log, devices, processes, timeout=120 + 0.1 * devices)
                yield {"lab": lab, "env": env, "tmp": tmp, "admin": admin, "xiot": xiot,
                       "processes": processes, "lab_seconds": lab_seconds,
                       "sim_seconds": time.perf_counter() - started}
            finally:
                if sim is not None:
                    _stop(sim, grace=60)
                manager.down(name)
    finally:
        signal.signal(signal.SIGTERM, previous)


def _wait_online(proc: subprocess.Popen[bytes], log: Path, devices: int, processes: int,
                 timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        text = log.read_text(errors="replace") if log.exists() else ""
        found = ONLINE.findall(text)
        if len(found) == processes:
            online = sum(int(n) for n, _ in found)
            failed = sum(int(f) for _, f in found)
            if online != devices or failed:
                raise RuntimeError(f"simulator: {online} online, {failed} failed:\n"
                                   f"{text[-2000:]}")
            return
        if proc.poll() is not None:
            raise RuntimeError(f"simulator exited with {proc.returncode}:\n{text[-2000:]}")
        time.sleep(0.2)
    raise RuntimeError(f"simulator not ready within {timeout:.0f} s")


def bare_run(run: dict, script: Path) -> float:
    lab = run["lab"]
    started = time.perf_counter()
    done = subprocess.run([sys.executable, str(script), run["admin"].jid, lab.host,
                           str(lab.ports["c2s"]), str(lab.ca_file)],
                          input=run["admin"].password + "\n", capture_output=True, text=True,
                          timeout=RUN_TIMEOUT, env=run["env"], check=False)
    seconds = time.perf_counter() - started
    if done.returncode != 0 or not done.stdout.startswith("done"):
        raise RuntimeError(f"bare client failed: {done.stderr[-2000:]}")
    return seconds


def xiot_snapshot(run: dict, devices: int) -> tuple[float, str]:
    """Seconds from start until all ``devices`` rows arrived, and xiot's summary line."""
    env = dict(run["env"], XIOT_PROFILE=run["lab"].name)
    started = time.perf_counter()
    proc = subprocess.Popen([run["xiot"], "--timeout", "120", "presence", "snapshot",
                             "--no-last", "-o", "ndjson"], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, env=env)
    rows = 0
    assert proc.stdout is not None
    for line in proc.stdout:
        rows += bool(line.strip())
        if rows == devices:
            break
    seconds = time.perf_counter() - started
    _, err = proc.communicate(timeout=RUN_TIMEOUT)
    if rows != devices or proc.returncode != 0:
        raise RuntimeError(f"xiot snapshot gave {rows} rows, exit {proc.returncode}: {err}")
    return seconds, err.strip().splitlines()[-1]


def watch_run(run: dict, devices: int, seconds: float) -> dict:
    """Peak RSS and CPU per change of a watcher following the churning fleet."""
    env = dict(run["env"], XIOT_PROFILE=run["lab"].name)
    path = run["tmp"] / "watch.ndjson"
    with path.open("w") as out:
        proc = subprocess.Popen([run["xiot"], "--timeout", "120", "presence", "watch", "-o",
                                 "ndjson"], stdout=out, stderr=subprocess.PIPE, text=True,
                                env=env)
    deadline = time.monotonic() + RUN_TIMEOUT
    settled_cpu = None
    before = 0
    while time.monotonic() < deadline and proc.poll() is None:
        lines = path.read_text().count("\n")
        if lines >= devices:
            settled_cpu, before = cpu_seconds(proc.pid), lines
            break
        time.sleep(0.05)
    if settled_cpu is None:
        proc.kill()
        raise RuntimeError("the watcher never settled")
    time.sleep(seconds)
    cpu = cpu_seconds(proc.pid) - settled_cpu
    hwm = _vm_hwm(proc.pid)
    lines = path.read_text().count("\n")
    proc.send_signal(signal.SIGINT)
    proc.communicate(timeout=60)
    changes = lines - before
    return {"peak_rss_mb": hwm / 1024, "changes": changes,
            "cpu_per_change_us": cpu / changes * 1e6 if changes else math.nan,
            "changes_per_s": changes / seconds}


def _vm_hwm(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1])
    return 0


def measure(size: int, args: argparse.Namespace, script: Path) -> dict:
    with fleet(f"bench-presence-{size}", size, args.churn, args.per_process) as run:
        print(f"  {size} devices: lab up {run['lab_seconds']:.1f} s, simulator "
              f"({run['processes']} processes) online in {run['sim_seconds']:.1f} s",
              file=sys.stderr, flush=True)
        bare, warm, cold = [], [], []
        cold_s, cold_line = xiot_snapshot(run, size)
        cold.append(cold_s)
        line = cold_line
        for i in range(args.runs):
            pair = [("bare", lambda: bare_run(run, script)),
                    ("xiot", lambda: xiot_snapshot(run, size)[0])]
            for what, fn in (pair if i % 2 == 0 else pair[::-1]):
                (bare if what == "bare" else warm).append(fn())
        watch = watch_run(run, size, args.watch_seconds)
    return {"size": size, "bare": _median(bare), "warm": _median(warm), "cold": cold[0],
            "summary": line, **watch}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", default="1000,10000")
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--churn", type=float, default=0.02,
                        help="fleet-wide mean seconds between presence flaps")
    parser.add_argument("--per-process", type=int, default=1000)
    parser.add_argument("--watch-seconds", type=float, default=20.0)
    args = parser.parse_args()
    sizes = [int(s) for s in args.sizes.split(",") if s]
    results = []
    with tempfile.TemporaryDirectory() as tmp:
        script = Path(tmp) / "bare_presence.py"
        script.write_text(BARE)
        for size in sizes:
            results.append(measure(size, args, script))
    print(f"cpus: {os.cpu_count()}, churn {args.churn} s fleet-wide, median of {args.runs}")
    print(f"{'devices':>8} {'bare slixmpp':>13} {'xiot cold':>10} {'xiot warm':>10} "
          f"{'watch RSS':>10} {'CPU/change':>11} {'changes/s':>10}")
    for r in results:
        print(f"{r['size']:>8} {r['bare']:>12.2f}s {r['cold']:>9.2f}s {r['warm']:>9.2f}s "
              f"{r['peak_rss_mb']:>8.0f}MB {r['cpu_per_change_us']:>9.0f}us "
              f"{r['changes_per_s']:>10.0f}")
    for r in results:
        print(f"  {r['size']}: xiot said: {r['summary'].removeprefix('xiot: ')}")
    print(json.dumps({"results": results}), file=sys.stderr)
    for r in results:
        print(f"ratio xiot/bare at {r['size']} devices (roster cached, budget 1.5): "
              f"{r['warm'] / r['bare']:.2f} (first run, roster fetched: "
              f"{r['cold'] / r['bare']:.2f})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
