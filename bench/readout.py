"""Fleet readout: ``xiot readout`` of N simulated devices vs a hand-written slixmpp script.

``xiot readout`` reads N simulated devices over one connection; the yardstick is a minimal
hand-written slixmpp script doing the same XEP-0323 exchange.

Budget (DESIGN.md): at most 1.25x the hand-written script, measured in the same run.

A private lab (Prosody on loopback, N device accounts) and ``xiot sim run`` in a process of
its own are started in a temporary directory and always torn down at the end.  Every reader
is a whole process, timed from start to exit: ``xiot readout`` (the CLI, full JIDs, ndjson to
a pipe) and the hand-written script, interleaved with alternating order, median of each.

Also printed, not part of the ratio:

- the xiot library (``read_devices`` in a small script): latency per reading from
  ``Reading.elapsed_ms`` and bytes on the wire; the CLI sends the same stanzas through the
  same code;
- ``xiot readout`` with bare JIDs (presence resolution included), timed like the others;
- readings/s, p50/p99 latency (request sent until ``done``), and bytes per reading: XML as
  the client writes and parses it, and TCP payload (TLS records included) from the kernel's
  TCP_INFO counters of the reader's socket, readout round only (login excluded).

    python bench/readout.py [--devices 1000] [--runs 5] [--concurrency 100]
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import resource
import statistics
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

from _lab import LabRun, as_installed, cpu_seconds, lab_with_sim, xiot_executable

LAB_NAME = "bench"
FIELDS_PER_READING = 3  # a simulated thermometer: Temperature, Humidity, Setpoint
RUN_TIMEOUT = 300.0  # seconds for one reader process; a run that takes longer is a failure

#: Bytes of the reader's TCP connection: ``tcpi_bytes_acked`` and ``tcpi_bytes_received`` of
#: Linux's struct tcp_info (offset 120), i.e. TCP payload, TLS record framing included.
WIRE_HELPERS = r'''
import socket
import struct


def tcp_bytes(xmpp):
    try:
        sock = xmpp.transport.get_extra_info("socket")
        info = sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_INFO, 136)
        return struct.unpack_from("QQ", info, 120)
    except (AttributeError, OSError, struct.error):
        return None


def count_xml(xmpp, counts):
    """Count the bytes slixmpp writes and the decrypted bytes it parses."""
    send_raw, data_received = xmpp.send_raw, xmpp.data_received

    def counted_send(data):
        counts["sent"] += len(data.encode() if isinstance(data, str) else data)
        send_raw(data)

    def counted_received(data):
        counts["received"] += len(data.encode() if isinstance(data, str) else data)
        data_received(data)

    xmpp.send_raw, xmpp.data_received = counted_send, counted_received


def wire_stats(xmpp, counts, tcp_before):
    tcp_after = tcp_bytes(xmpp)
    tcp = None
    if tcp_before and tcp_after:
        tcp = {"sent": tcp_after[0] - tcp_before[0], "received": tcp_after[1] - tcp_before[1]}
    return {"xml": dict(counts), "tcp": tcp}
'''

#: The yardstick: what someone would write by hand with slixmpp to read every JID on stdin.
#: The only lines that are not the exchange itself are the ones marked "measurement".
YARDSTICK = WIRE_HELPERS + r'''
import asyncio
import itertools
import json
import math
import os
import ssl
import sys
import time
import xml.etree.ElementTree as ET

import slixmpp
from slixmpp.exceptions import IqError, IqTimeout
from slixmpp.xmlstream.handler import Callback
from slixmpp.xmlstream.matcher import MatchXPath

NS = "urn:xmpp:iot:sensordata"
TIMEOUT = 10.0


async def main():
    env = os.environ
    targets = [line.strip() for line in sys.stdin if line.strip()]
    context = ssl.create_default_context(cafile=env["BENCH_CA"])
    xmpp = slixmpp.ClientXMPP(env["BENCH_JID"], env["BENCH_PASSWORD"], ssl_context=context)
    xmpp.enable_direct_tls = False  # the lab's c2s port speaks STARTTLS
    xmpp.whitespace_keepalive = False
    loop = asyncio.get_running_loop()
    pending = {}  # seqnr -> (jid, future set on done, rows)

    def on_fields(msg):
        fields = msg.xml.find(f"{{{NS}}}fields")
        waiter = pending.get(int(fields.get("seqnr", "0")))
        if waiter is None or msg["from"] != waiter[0]:
            return
        for node in fields:
            for stamp in node:
                for value in stamp:
                    waiter[2].append({"jid": waiter[0], "node": node.get("nodeId"),
                                      "name": value.get("name"), "value": value.get("value"),
                                      "unit": value.get("unit"),
                                      "timestamp": stamp.get("value")})
        if fields.get("done") in ("true", "1") and not waiter[1].done():
            waiter[1].set_result(None)

    xmpp.register_handler(Callback(
        "readout fields", MatchXPath(f"{{jabber:client}}message/{{{NS}}}fields"), on_fields))
    ready = loop.create_future()
    xmpp.add_event_handler("session_start", lambda _: ready.done() or ready.set_result(None))
    xmpp.add_event_handler("failed_all_auth", lambda _: ready.done() or ready.set_exception(
        RuntimeError("authentication failed")))
    xmpp.connect(env["BENCH_HOST"], int(env["BENCH_PORT"]))
    await asyncio.wait_for(ready, TIMEOUT)

    counts = {"sent": 0, "received": 0}  # measurement
    count_xml(xmpp, counts)  # measurement
    tcp_before = tcp_bytes(xmpp)  # measurement
    limit = asyncio.Semaphore(int(env["BENCH_CONCURRENCY"]))
    numbers = itertools.count(1)
    latencies, statuses = [], {}
    out = sys.stdout

    async def read(jid):
        async with limit:
            seqnr = next(numbers)
            done, rows = loop.create_future(), []
            pending[seqnr] = (jid, done, rows)
            iq = xmpp.make_iq_get(ito=jid)
            iq.xml.append(ET.Element(f"{{{NS}}}req", {"seqnr": str(seqnr),
                                                       "momentary": "true"}))
            sent = time.perf_counter()
            try:
                result = await iq.send(timeout=TIMEOUT)
                if result.xml.find(f"{{{NS}}}accepted") is None:
                    raise ValueError("no accepted")
                await asyncio.wait_for(done, TIMEOUT)
                status = "ok"
            except (IqError, IqTimeout, TimeoutError, ValueError) as exc:
                status = type(exc).__name__
            finally:
                pending.pop(seqnr, None)
            latencies.append((time.perf_counter() - sent) * 1000)
            statuses[status] = statuses.get(status, 0) + 1
            for row in rows:
                out.write(json.dumps(row | {"status": status}) + "\n")

    await asyncio.gather(*(read(jid) for jid in targets))
    wire = wire_stats(xmpp, counts, tcp_before)  # measurement
    out.flush()
    await xmpp.disconnect(wait=1.0)
    print("BENCH-STATS " + json.dumps({"latencies": latencies, "statuses": statuses,
                                       "wire": wire}), file=sys.stderr)


asyncio.run(main())
'''

#: The xiot library doing the same round (what ``xiot readout`` calls), instrumented: it
#: reports ``Reading.elapsed_ms`` and the bytes of the readout round.
XIOT_LIBRARY = WIRE_HELPERS + r'''
import asyncio
import json
import math
import os
import sys

from xiot.config import GlobalOptions, resolve
from xiot.iot.model import ReadoutRequest
from xiot.iot.readout import read_devices
from xiot.xmpp.jid import parse_jid
from xiot.xmpp.session import Session


async def main():
    jids = [parse_jid(line.strip()) for line in sys.stdin if line.strip()]
    settings = resolve(GlobalOptions(profile=os.environ["BENCH_PROFILE"]))
    request = ReadoutRequest(categories=frozenset({"momentary"}))
    latencies, statuses, fields = [], {}, 0
    async with Session(settings) as session:
        xmpp = session.client
        counts = {"sent": 0, "received": 0}
        count_xml(xmpp, counts)
        tcp_before = tcp_bytes(xmpp)
        async for reading in read_devices(session, jids, request, settings.timeout,
                                          int(os.environ["BENCH_CONCURRENCY"])):
            latencies.append(reading.elapsed_ms)
            statuses[reading.status] = statuses.get(reading.status, 0) + 1
            fields += len(reading.fields)
        wire = wire_stats(xmpp, counts, tcp_before)
    print("BENCH-STATS " + json.dumps({"latencies": latencies, "statuses": statuses,
                                       "fields": fields, "wire": wire}), file=sys.stderr)


asyncio.run(main())
'''


@dataclass
class Contestant:
    """One kind of reader: how to start it and what its runs measured."""

    label: str
    argv: list[str]
    env: dict[str, str]
    targets: Path
    #: What proves that every device answered: "rows" (its ndjson output) and/or "stats"
    #: (the statuses in its BENCH-STATS line).
    checks: tuple[str, ...]
    wall: list[float] = field(default_factory=list)
    cpu: list[float] = field(default_factory=list)
    latencies: list[float] = field(default_factory=list)
    wire: list[dict] = field(default_factory=list)

    def median(self) -> float:
        return statistics.median(self.wall)


def run_once(c: Contestant, devices: int, record: bool = True) -> None:
    """Run one reader process to completion, verify that every device answered, record it."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    with c.targets.open("rb") as stdin:
        started = time.perf_counter()
        proc = subprocess.run(c.argv, stdin=stdin, capture_output=True, env=c.env,
                              timeout=RUN_TIMEOUT, check=False)
        wall = time.perf_counter() - started
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    stderr = proc.stderr.decode(errors="replace")
    if proc.returncode != 0:
        raise RuntimeError(f"{c.label}: exit {proc.returncode}\n{stderr[-3000:]}")
    stats = _stats(stderr)
    if "rows" in c.checks:
        _check_rows(c.label, proc.stdout, devices)
    if "stats" in c.checks:
        ok = stats.get("statuses", {}).get("ok", 0)
        if ok != devices:
            raise RuntimeError(f"{c.label}: {ok} of {devices} devices ok: {stats}")
    if not record:
        return
    c.wall.append(wall)
    c.cpu.append(cpu)
    c.latencies.extend(stats.get("latencies", []))
    if stats.get("wire"):
        c.wire.append(stats["wire"])


def _stats(stderr: str) -> dict:
    for line in reversed(stderr.splitlines()):
        if line.startswith("BENCH-STATS "):
            return json.loads(line.split(" ", 1)[1])
    return {}


def _check_rows(label: str, stdout: bytes, devices: int) -> None:
    """Every device must have answered ok with all its fields, and nothing may have failed."""
    per_jid: dict[str, int] = {}
    for line in stdout.splitlines():
        row = json.loads(line)
        if row.get("status") != "ok" or row.get("error"):
            raise RuntimeError(f"{label}: a device failed: {row}")
        per_jid[row["jid"]] = per_jid.get(row["jid"], 0) + 1
    short = {j: n for j, n in per_jid.items() if n != FIELDS_PER_READING}
    if len(per_jid) != devices or short:
        raise RuntimeError(f"{label}: {len(per_jid)} of {devices} devices answered; "
                           f"incomplete: {list(short)[:5]}")


def percentile(values: list[float], q: float) -> float:
    """Nearest-rank percentile."""
    ordered = sorted(values)
    if not ordered:
        return float("nan")
    return ordered[min(len(ordered), max(1, math.ceil(q / 100 * len(ordered)))) - 1]


def wire_line(c: Contestant, devices: int) -> str:
    """Bytes per reading for one reader (median over its runs)."""
    if not c.wire:
        return "not measured"
    xml_sent = statistics.median(w["xml"]["sent"] for w in c.wire) / devices
    xml_recv = statistics.median(w["xml"]["received"] for w in c.wire) / devices
    text = (f"XML {xml_sent + xml_recv:6.0f} B/reading (sent {xml_sent:.0f}, received "
            f"{xml_recv:.0f}; {(xml_sent + xml_recv) / FIELDS_PER_READING:.0f} B/field)")
    tcps = [w["tcp"] for w in c.wire if w.get("tcp")]
    if tcps:
        tcp_total = statistics.median(t["sent"] + t["received"] for t in tcps) / devices
        overhead = tcp_total / (xml_sent + xml_recv) - 1
        text += f"; TCP payload {tcp_total:.0f} B/reading (TLS +{overhead:.0%})"
    return text


def write_targets(run: LabRun, devices: int) -> tuple[Path, Path]:
    domain = run.lab.domain
    names = [f"dev{i:04d}@{domain}" for i in range(1, devices + 1)]
    full, bare = run.tmp / "full-jids.txt", run.tmp / "bare-jids.txt"
    full.write_text("".join(f"{n}/sim\n" for n in names))
    bare.write_text("".join(f"{n}\n" for n in names))
    return full, bare


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--devices", type=int, default=1000, help="simulated devices")
    parser.add_argument("--runs", type=int, default=5, help="timed runs of each reader")
    parser.add_argument("--concurrency", type=int, default=100, help="readouts in flight")
    args = parser.parse_args()
    as_installed()
    devices, runs, concurrency = max(1, args.devices), max(1, args.runs), args.concurrency
    xiot = xiot_executable()

    print(f"setting up: lab '{LAB_NAME}' with {devices} devices and the simulator...",
          file=sys.stderr, flush=True)
    with lab_with_sim(LAB_NAME, devices) as run:
        full, bare = write_targets(run, devices)
        yardstick_py, library_py = run.tmp / "yardstick.py", run.tmp / "xiot_library.py"
        yardstick_py.write_text(YARDSTICK)
        library_py.write_text(XIOT_LIBRARY)
        common = {"BENCH_CONCURRENCY": str(concurrency)}
        yard_env = run.env | common | {
            "BENCH_JID": run.admin_jid, "BENCH_PASSWORD": run.admin_password,
            "BENCH_HOST": run.lab.host, "BENCH_PORT": str(run.lab.ports["c2s"]),
            "BENCH_CA": str(run.lab.ca_file)}
        readout = [xiot, "--profile", LAB_NAME, "readout", "--from-file", "-", "-o",
                   "ndjson", "--concurrency", str(concurrency)]
        ours = Contestant("xiot readout (CLI, full JIDs)", readout, run.env, full, ("rows",))
        yard = Contestant("hand-written slixmpp script", [sys.executable, str(yardstick_py)],
                          yard_env, full, ("rows", "stats"))
        library = Contestant("xiot read_devices (library, in a script)",
                             [sys.executable, str(library_py)],
                             run.env | common | {"BENCH_PROFILE": LAB_NAME}, full, ("stats",))
        bare_cli = Contestant("xiot readout (CLI, bare JIDs: presence resolution)", readout,
                              run.env, bare, ("rows",))
        timed = [ours, yard, library, bare_cli]

        print(f"{devices} devices online in {run.sim_seconds:.1f} s; warm-up run of each...",
              file=sys.stderr, flush=True)
        for c in timed:
            run_once(c, devices, record=False)
        busy_before = cpu_seconds(run.lab.pid), cpu_seconds(run.sim_pid)
        for number in range(runs):
            print(f"run {number + 1}/{runs}", file=sys.stderr, flush=True)
            order = timed if number % 2 == 0 else timed[::-1]
            for c in order:
                run_once(c, devices)
        busy_after = cpu_seconds(run.lab.pid), cpu_seconds(run.sim_pid)
        others = tuple((b - a) / (runs * len(timed)) for a, b in zip(busy_before, busy_after,
                                                                      strict=True))
        report(run, devices, runs, concurrency, ours, yard, library, bare_cli, others)


def report(run: LabRun, devices: int, runs: int, concurrency: int, ours: Contestant,
           yard: Contestant, library: Contestant, bare_cli: Contestant,
           others: tuple[float, float]) -> None:
    lab = run.lab
    print(f"Fleet readout: {devices} simulated thermometers ({FIELDS_PER_READING} fields each) "
          f"read over one connection, concurrency {concurrency}")
    print(f"Prosody {lab.prosody_version} on {lab.host}:{lab.ports['c2s']} (STARTTLS), "
          f"simulator in its own process ({devices} online in {run.sim_seconds:.1f} s); "
          f"Python {platform.python_version()}, {os.cpu_count()} CPUs")
    print(f"Whole reader process timed (start, connect, authenticate, read all, exit); "
          f"{runs} interleaved runs each after a warm-up, median")
    print()
    print(f"{'reader':<52} {'median s':>8} {'min s':>6} {'max s':>6} {'cpu s':>6} "
          f"{'readings/s':>10} {'vs script':>9}")
    base = yard.median()
    for c in (yard, ours, library, bare_cli):
        med = c.median()
        runs_note = "" if len(c.wall) > 1 else "  (1 run)"
        print(f"{c.label:<52} {med:>8.3f} {min(c.wall):>6.3f} {max(c.wall):>6.3f} "
              f"{statistics.median(c.cpu):>6.2f} {devices / med:>10.0f} {med / base:>9.2f}"
              f"{runs_note}")
    print(f"  cpu s = the reader process's user+system CPU (median); meanwhile Prosody used "
          f"{others[0]:.2f} s and the simulator {others[1]:.2f} s of CPU per run, on "
          f"{os.cpu_count()} CPUs")
    cpu_ratio = statistics.median(ours.cpu) / statistics.median(yard.cpu)
    fleet = devices > 1
    print(f"  reader CPU, xiot readout / script: {cpu_ratio:.2f}"
          + (" (budget 1.0 for a fleet)" if fleet else " (no budget for one device)"))
    print()
    print("Latency per reading, request sent until done (ms), pooled over the runs:")
    for c, how in ((yard, "timed in the script"), (library, "Reading.elapsed_ms")):
        lat = c.latencies
        print(f"  {c.label:<50} p50 {percentile(lat, 50):7.1f}  p99 {percentile(lat, 99):7.1f}"
              f"  ({how}, n={len(lat)})")
    print("  (xiot readout's output rows carry no elapsed_ms column, so xiot's figure comes "
          "from the library, which the CLI runs unchanged)")
    print()
    print("Bytes on the wire per reading, readout round only (login excluded), both "
          "directions:")
    for c in (yard, library):
        print(f"  {c.label:<50} {wire_line(c, devices)}")
    print("  XML = bytes slixmpp writes and the decrypted bytes it parses (iq get + iq result "
          "+ fields message);")
    print("  TCP payload = kernel TCP_INFO bytes_acked + bytes_received of the reader's "
          "socket (TLS records included)")
    print("  common comparison figure: XMPP ~280 B, MQTT ~40 B per reading (one value, "
          "no request)")
    print()
    ratio = ours.median() / base
    if fleet:
        bare_ratio = bare_cli.median() / ours.median()
        print(f"bare JIDs / full JIDs, xiot readout, median wall time (budget 1.1): "
              f"{bare_ratio:.2f}")
    budget = "1.0: a fleet read faster than the script" if fleet else \
        "1.15: one readout from a terminal, the whole process"
    print(f"ratio (xiot readout / hand-written slixmpp, median wall time, budget {budget}): "
          f"{ratio:.2f}")


if __name__ == "__main__":
    try:
        main()
    except KeyboardInterrupt:
        sys.exit(130)  # the lab and the simulator were already torn down on the way out
