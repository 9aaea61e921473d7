"""Probing 100 domains in parallel against single domains, over an emulated network; and the
probe's own CPU per endpoint against check_xmppng's on the same endpoints.

Budget (DESIGN.md): probing 100 domains at an emulated 200 ms round trip takes at most 1.5x
the time of the slowest single domain, and the probe's own CPU per endpoint is no more than
check_xmppng's on the same endpoints.  The time budget is about real domains on a network,
where a domain's probe time is mostly round trips (DNS, TCP, stream header, STARTTLS, TLS
handshake, second stream header, close) that many domains can wait for at once.  On loopback
with little or no latency there is little to overlap: the run then measures how much CPU one
machine has for the client, the server and the DNS server together.  So one run measures the
same probe at several round-trip times:

* **emulated latency** (``--rtt-ms``, default 200 ms round trip, the budget figure; and every
  non-zero value of ``--also-rtt-ms``, default ``50,0``, reported without a budget): the lab
  DNS server answers every query ``rtt`` after it arrived (without holding up other queries),
  and the SRV records point at a small TCP proxy that forwards every chunk ``rtt / 2`` after
  it arrived, in each direction and in order.  The TCP handshake itself is not delayed (the
  kernel completes it), so every connection is one round trip shorter than on a real network;
  that is the same for the single and the parallel runs.
* **0 ms** (a ``0`` in ``--also-rtt-ms``; no proxy, SRV records point straight at Prosody):
  the CPU-bound figure, without a budget.

Everything stays on loopback: one Prosody (the lab's config plus 100 virtual hosts,
certificate ``*.bench.test`` from a private CA), the lab DNS server and the proxy, each in a
process of its own so that they do not compete with the probe for its interpreter lock (they
still share the machine's cores with it).  Each domain gets ``_xmpp-client``,
``_xmpps-client`` and ``_xmpp-server`` SRV records and is probed fully except the HTTP checks
(3 endpoints: TCP, stream, STARTTLS or direct TLS, certificate checks, features).

All domains are probed at once (``--concurrency``, default the number of domains): with a
concurrency of 64, 100 domains take two waves, so at least twice the time of one domain
whenever round trips dominate.

Single domains are probed one at a time, every domain (or ``--singles`` of them, spread over
the list), at the same latency as the parallel run; the slowest and the median are reported.
The parallel run of all domains is repeated ``--repeat`` times and the median taken.

At each emulated latency ``--wall-sample`` domains are also timed as whole ``xiot probe``
processes through the same proxy and delayed DNS server, and, at round trips under 90 ms,
with Debian's ``check_xmppng`` (one c2s STARTTLS connection, no SRV).  check_xmppng waits at
most 100 ms for each answer (and reads until 100 ms of silence), so from a round trip of
about 95 ms on it reads nothing and reports "unexpected state new"; at 200 ms it cannot be
timed through the proxy (one run shows its output).

**CPU per endpoint** (the second budget), measured at 0 ms straight to Prosody, for that
reason and because waiting costs no CPU: the same Prosody, the same ``--sample`` domains
(default 20), the same STARTTLS c2s endpoint (``127.0.0.1``, Prosody's c2s port, the domain as
server name), the same TLS work (a full TLS handshake verified against the bench CA, the
certificate's host name checked).  Every figure is the user plus system CPU of a whole child
process, from ``os.wait4``:

* check_xmppng: one process per endpoint (``-H 127.0.0.1 -p C2S --servername DOMAIN
  --starttls -r CA``), each paired with a run of the same plugin against a closed loopback
  port (interpreter start-up, its imports, argument parsing and the Nagios output, no
  connection).  Per endpoint excluding start-up: the median over the sample of (check minus
  its paired closed-port run).
* ``xiot probe`` in the checks comparable to check_xmppng's (``--kind client --only
  tcp,tls,stream``), against a DNS zone that has only the ``_xmpp-client`` SRV record and the
  target's address, so that each domain has exactly the one endpoint check_xmppng connects
  to (xiot still does its SRV and address look-ups, on top of what check_xmppng does).
* the full ``xiot probe --skip web`` on the usual zone (3 endpoints a domain: STARTTLS c2s,
  direct TLS c2s, STARTTLS s2s; not all of them endpoints check_xmppng can check).

Each xiot form runs as one process for the first sample domain and as one process for all
sample domains, ``--cpu-repeat`` times each, interleaved; medians are taken.  Per endpoint
excluding start-up is the marginal cost, (CPU of N domains - CPU of 1 domain) / (endpoints
of N - endpoints of 1): interpreter start-up, imports, the TLS context and every other
once-per-run cost cancel out.  Endpoints are counted from the ``-o ndjson`` output.  Also
printed: the whole process per endpoint for one domain (start-up included, as a Nagios
check would run it) and the CPU of ``xiot --version``.  The CPU ratio with a budget is xiot's
comparable checks per endpoint excluding start-up over check_xmppng's per endpoint excluding
start-up; check_xmppng builds a TLS context (the system's roots plus the CA) for every
check, and that stays in its per-endpoint figure because it does so for every endpoint.

    python bench/probe.py [--domains 100] [--rtt-ms 200] [--also-rtt-ms 50,0]
                          [--concurrency N] [--singles N] [--repeat 3]
                          [--sample 20] [--cpu-repeat 3] [--wall-sample 5]

It prints the figures at the end, ending with the CPU ratio and then the budget line (the
ratio at ``--rtt-ms``); progress goes to standard error.

``--web`` measures something else instead: the probe's own CPU for the HTTP checks (both
host-meta documents from a small host-meta server, a BOSH session and a WebSocket stream per
domain, against the same Prosody on loopback, no emulated latency): the CPU of ``--only web``
rounds minus that of ``--only dns`` rounds (DNS runs in both), per HTTP endpoint, once with
host-meta over plain HTTP and once over HTTPS (a certificate from the bench CA, trusted through
a bundle of the system's roots and that CA, given as ``--ca``).  It prints the figures last;
the script runs with whatever ``xiot`` is importable, so the same command compares two
versions of the probe (``PYTHONPATH=OTHER_CHECKOUT python bench/probe.py --web``).
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import contextlib
import multiprocessing
import os
import re
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, replace
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

from _lab import as_installed, cpu_seconds, xiot_executable

from xiot.lab import prosody
from xiot.lab.ca import CertificateAuthority, CertSpec, write_pem
from xiot.lab.dns import LabDnsServer, Record
from xiot.lab.ports import free_ports
from xiot.probes.runner import ProbeOptions, probe_many

CHECK_XMPPNG = "/usr/lib/nagios/plugins/check_xmppng"
LOOPBACK = "127.0.0.1"
#: Bounds of the delaying proxy: connections open at once, bytes held per direction.
PROXY_MAX_CONNECTIONS = 2048
PROXY_MAX_QUEUED = 256 * 1024
#: Seconds a helper process gets to start or to stop before it is killed.
HELPER_TIMEOUT = 10.0
MAX_RTT_MS = 1000


def start_server(directory: Path, domains: list[str]) -> tuple[prosody.ServerConfig, int]:
    ca = CertificateAuthority.create(name="xiot bench CA")
    ca.write(directory / "ca.pem", directory / "ca.key")
    cert, key = ca.issue(CertSpec("bench.test", dns_names=("xiot.test", "*.bench.test")))
    (directory / "certs").mkdir()
    write_pem(directory / "certs" / "server.crt", directory / "certs" / "server.key", cert, key)
    ports = prosody.Ports(*free_ports(4, LOOPBACK))
    cfg = prosody.ServerConfig(directory, "xiot.test", LOOPBACK, ports, "admin@xiot.test",
                               directory / "certs" / "server.crt",
                               directory / "certs" / "server.key")
    hosts = "".join(f'\nVirtualHost "{domain}"\n' for domain in domains)
    cfg.config_file.write_text(prosody.render_config(cfg) + hosts)
    return cfg, prosody.start(cfg, lambda pid: None)  # start() stops it if interrupted


@dataclass(frozen=True)
class Targets:
    """Where the SRV records point: Prosody itself or the proxy in front of it."""

    c2s: int
    c2s_direct: int
    s2s: int


def records(domains: list[str], ports: Targets) -> list[Record]:
    found = [Record("xmpp.bench.test", "A", LOOPBACK)]
    for domain in domains:
        found += [
            Record(f"_xmpp-client._tcp.{domain}", "SRV", f"5 0 {ports.c2s} xmpp.bench.test."),
            Record(f"_xmpps-client._tcp.{domain}", "SRV",
                   f"5 0 {ports.c2s_direct} xmpp.bench.test."),
            Record(f"_xmpp-server._tcp.{domain}", "SRV", f"5 0 {ports.s2s} xmpp.bench.test."),
        ]
    return found


# -- helper processes ----------------------------------------------------------------------


def _dns_main(found: list[Record], delay: float, conn: Connection) -> None:
    """Child process: serve ``found`` until the parent says stop (or goes away)."""
    server = LabDnsServer(found, zones=["bench.test"], delay=delay)
    conn.send(server.start())
    with contextlib.suppress(EOFError, OSError):
        conn.recv()
    server.stop()
    conn.send(len(server.errors))


class _Link:
    """One proxied connection: chunks leave ``delay`` seconds after they arrived, in order.

    Direction 0 is client to server, 1 server to client.  A direction holding more than
    ``PROXY_MAX_QUEUED`` bytes stops reading its source until it has delivered half of them.
    """

    CLOSE = b""

    def __init__(self, loop: asyncio.AbstractEventLoop, delay: float,
                 links: set[_Link]) -> None:
        self.loop = loop
        self.delay = delay
        self.links = links
        self.transports: list[asyncio.Transport | None] = [None, None]
        self.queues: list[collections.deque[tuple[float, bytes]]] = [
            collections.deque(), collections.deque()]
        self.queued = [0, 0]
        self.timers: list[asyncio.TimerHandle | None] = [None, None]
        self.paused = [False, False]
        links.add(self)

    def receive(self, side: int, data: bytes) -> None:
        self.queues[side].append((self.loop.time() + self.delay, data))
        self.queued[side] += len(data)
        transport = self.transports[side]
        if self.queued[side] > PROXY_MAX_QUEUED and transport and not self.paused[side]:
            self.paused[side] = True
            transport.pause_reading()
        self._schedule(side)

    def _schedule(self, side: int) -> None:
        if self.timers[side] is None and self.queues[side]:
            self.timers[side] = self.loop.call_at(self.queues[side][0][0], self._deliver, side)

    def _deliver(self, side: int) -> None:
        self.timers[side] = None
        target = self.transports[1 - side]
        if target is None:  # the server side is still connecting; it calls us when done
            return
        now = self.loop.time()
        queue = self.queues[side]
        while queue and queue[0][0] <= now:
            _, data = queue.popleft()
            self.queued[side] -= len(data)
            if data is self.CLOSE:
                target.close()
                queue.clear()
                self.queued[side] = 0
                self._maybe_done()
                return
            if not target.is_closing():
                target.write(data)
        source = self.transports[side]
        if self.paused[side] and self.queued[side] <= PROXY_MAX_QUEUED // 2 and source:
            self.paused[side] = False
            source.resume_reading()
        self._schedule(side)

    def lost(self, side: int) -> None:
        """The ``side`` peer is gone: close the other side once everything it sent arrived."""
        self.queues[side].append((self.loop.time() + self.delay, self.CLOSE))
        self._schedule(side)
        self._maybe_done()

    def _maybe_done(self) -> None:
        if all(t is None or t.is_closing() for t in self.transports):
            for timer in self.timers:
                if timer is not None:
                    timer.cancel()
            self.links.discard(self)


class _Side(asyncio.Protocol):
    def __init__(self, link: _Link, side: int) -> None:
        self.link = link
        self.side = side

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.link.transports[self.side] = transport  # type: ignore[assignment]
        if self.side == 1:
            self.link._deliver(0)

    def data_received(self, data: bytes) -> None:
        self.link.receive(self.side, data)

    def connection_lost(self, exc: Exception | None) -> None:
        self.link.lost(self.side)


class _Refuse(asyncio.Protocol):
    """Too many connections already: hang up at once."""

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        transport.abort()  # type: ignore[attr-defined]


async def _proxy_serve(upstreams: list[int], delay: float, conn: Connection) -> None:
    loop = asyncio.get_running_loop()
    links: set[_Link] = set()

    def accept(upstream: int) -> asyncio.Protocol:
        if len(links) >= PROXY_MAX_CONNECTIONS:
            return _Refuse()
        link = _Link(loop, delay, links)

        async def connect() -> None:
            try:
                await loop.create_connection(lambda: _Side(link, 1), LOOPBACK, upstream)
            except OSError:
                links.discard(link)
                client = link.transports[0]
                if client is not None:
                    client.abort()

        task = loop.create_task(connect())
        tasks.add(task)
        task.add_done_callback(tasks.discard)
        return _Side(link, 0)

    tasks: set[asyncio.Task[None]] = set()
    servers = [await loop.create_server(lambda up=up: accept(up), LOOPBACK, 0)
               for up in upstreams]
    conn.send([server.sockets[0].getsockname()[1] for server in servers])
    stop = asyncio.Event()
    loop.add_reader(conn.fileno(), stop.set)
    await stop.wait()
    loop.remove_reader(conn.fileno())
    for server in servers:
        server.close()
    for link in list(links):
        for transport in link.transports:
            if transport is not None:
                transport.abort()


def _proxy_main(upstreams: list[int], delay: float, conn: Connection) -> None:
    """Child process: a delaying TCP proxy on loopback for each port in ``upstreams``."""
    asyncio.run(_proxy_serve(upstreams, delay, conn))


@contextlib.contextmanager
def helper(target: object, *args: object) -> Iterator[tuple[Any, int]]:
    """Run ``target(*args, conn)`` in a fresh process; yields what it sends first, and its pid."""
    context = multiprocessing.get_context("spawn")
    ours, theirs = context.Pipe()
    process = context.Process(target=target, args=(*args, theirs), daemon=True)
    process.start()
    try:
        if not ours.poll(HELPER_TIMEOUT):
            raise RuntimeError(f"{getattr(target, '__name__', target)} did not start")
        yield ours.recv(), process.pid  # type: ignore[misc]
    finally:
        with contextlib.suppress(OSError):
            ours.send("stop")
        process.join(HELPER_TIMEOUT)
        if process.is_alive():
            process.kill()
            process.join(HELPER_TIMEOUT)
        ours.close()


# -- measuring -----------------------------------------------------------------------------


def probe(domains: list[str], options: ProbeOptions) -> tuple[float, int]:
    async def run() -> int:
        return sum([result.failed async for result in probe_many(domains, options)])

    started = time.perf_counter()
    failed = asyncio.run(run())
    return time.perf_counter() - started, failed


@dataclass(frozen=True)
class Round:
    rtt_ms: float
    singles: list[float]
    single_failed: int
    parallel: list[float]
    parallel_failed: int
    #: CPU seconds per parallel run, by process.
    cpu: dict[str, float]

    @property
    def slowest(self) -> float:
        return max(self.singles)

    @property
    def median_single(self) -> float:
        return statistics.median(self.singles)

    @property
    def median_parallel(self) -> float:
        return statistics.median(self.parallel)

    def lines(self, count: int) -> list[str]:
        ms = 1000
        where = (f"{self.rtt_ms:g} ms emulated round trip" if self.rtt_ms
                 else "0 ms (loopback, no proxy)")
        return [
            f"[{where}] single domains, one at a time ({len(self.singles)}): median "
            f"{self.median_single * ms:.1f} ms, slowest {self.slowest * ms:.1f} ms "
            f"({self.single_failed} with a failed check)",
            f"[{where}] {count} domains in parallel: median {self.median_parallel * ms:.1f} ms"
            f" of {len(self.parallel)} runs ("
            + ", ".join(f"{t * ms:.0f}" for t in self.parallel)
            + f" ms; {self.parallel_failed} domain results with a failed check)",
            f"[{where}] CPU per parallel run: "
            + ", ".join(f"{name} {seconds * ms:.0f} ms" for name, seconds in self.cpu.items())
            + f" (together {sum(self.cpu.values()) * ms:.0f} ms, on {os.cpu_count()} cores)",
            f"[{where}] parallel / median single: {self.median_parallel / self.median_single:.2f}"
            f"; parallel / slowest single: {self.median_parallel / self.slowest:.2f}",
        ]


def measure(domains: list[str], options: ProbeOptions, rtt_ms: float, singles: int,
            repeat: int, processes: dict[str, int]) -> Round:
    probe(domains[:3], options)  # warm-up: imports, first handshakes
    step = max(1, len(domains) // max(1, singles))
    timed = [probe([domain], options) for domain in domains[::step][:singles]]
    pids = {"probe": os.getpid(), **processes}
    before = {name: cpu_seconds(pid) for name, pid in pids.items()}
    runs = [probe(domains, options) for _ in range(repeat)]
    cpu = {name: (cpu_seconds(pid) - before[name]) / repeat for name, pid in pids.items()}
    return Round(rtt_ms, [t for t, _ in timed], sum(f for _, f in timed),
                 [t for t, _ in runs], sum(f for _, f in runs), cpu)


def _pages_main(http_port: int, cert: Path | None, conn: Connection) -> None:
    """Child process: serve host-meta (HTTPS with ``cert``/``.key`` given) until told to
    stop, so that its CPU is not counted as the probe's."""
    import ssl

    context = None
    if cert is not None:
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        context.load_cert_chain(cert, cert.with_suffix(".key"))
    server = _host_meta_server(http_port, context)
    conn.send(server.server_address[1])
    with contextlib.suppress(EOFError, OSError):
        conn.recv()
    server.shutdown()
    server.server_close()


def _host_meta_server(http_port: int, context: Any = None) -> Any:
    """A threaded HTTP(S) server answering both host-meta forms (any Host) with Prosody's
    BOSH and WebSocket URLs; the caller shuts it down."""
    import http.server
    import json
    import threading

    base = f"{LOOPBACK}:{http_port}"
    bosh, ws = f"http://{base}/http-bind", f"ws://{base}/xmpp-websocket"
    xrd = ("<XRD xmlns='http://docs.oasis-open.org/ns/xri/xrd-1.0'>"
           f"<Link rel='urn:xmpp:alt-connections:xbosh' href='{bosh}'/>"
           f"<Link rel='urn:xmpp:alt-connections:websocket' href='{ws}'/></XRD>").encode()
    jrd = json.dumps({"links": [{"rel": "urn:xmpp:alt-connections:xbosh", "href": bosh},
                                {"rel": "urn:xmpp:alt-connections:websocket", "href": ws}]})

    class HostMeta(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            body = jrd.encode() if self.path.endswith(".json") else xrd
            self.send_response(200)
            self.send_header("Access-Control-Allow-Origin", "*")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            with contextlib.suppress(OSError):  # the probe hangs up once it has the body
                self.wfile.write(body)

        def log_message(self, *args: object) -> None:
            pass

    class Server(http.server.ThreadingHTTPServer):
        request_queue_size = 1024  # every domain asks at once

    server = Server((LOOPBACK, 0), HostMeta)
    if context is not None:
        server.socket = context.wrap_socket(server.socket, server_side=True)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


def _https_for_pages(directory: Path) -> tuple[Path, Path]:
    """A certificate for the host-meta pages (127.0.0.1, from the bench CA) and a trust
    bundle: the system's roots plus the bench CA, as a real store would be."""
    import ssl

    ca = CertificateAuthority.load(directory / "ca.pem", directory / "ca.key")
    cert, key = ca.issue(CertSpec(LOOPBACK, ip_addresses=(LOOPBACK,)))
    write_pem(directory / "pages.crt", directory / "pages.key", cert, key)
    system = Path(ssl.get_default_verify_paths().cafile or "/etc/ssl/certs/ca-certificates.crt")
    bundle = directory / "bundle.pem"
    bundle.write_bytes((system.read_bytes() if system.is_file() else b"")
                       + (directory / "ca.pem").read_bytes())
    return directory / "pages.crt", bundle


def web_cpu(domains: list[str], cfg: prosody.ServerConfig, directory: Path,
            rounds: int) -> None:
    """``--web``: the probe's CPU per HTTP endpoint (see the module docstring), with host-meta
    served over plain HTTP and over HTTPS."""
    direct = Targets(cfg.ports.c2s, cfg.ports.c2s_direct, cfg.ports.s2s)
    cert, bundle = _https_for_pages(directory)
    # A version of the probe that builds its HTTPS context from the system store finds the
    # bench CA there too (SSL_CERT_FILE is what OpenSSL reads as the system store).
    os.environ["SSL_CERT_FILE"] = str(bundle)
    figures: list[str] = []
    with helper(_dns_main, records(domains, direct), 0.0) as ((host, port), _):
        for scheme, served in (("http", None), ("https", cert)):
            with helper(_pages_main, cfg.ports.http, served) as (pages_port, _):
                base = ProbeOptions(resolver=(host, port), timeout=10.0, ca=bundle,
                                    kinds=("client",), concurrency=len(domains),
                                    web_base=f"{scheme}://{LOOPBACK}:{pages_port}")
                web, seen = _cpu_of(domains, replace(base, only=("web",)), rounds)
                dns_only, _ = _cpu_of(domains, replace(base, only=("dns",)), rounds)
            print(f"[host-meta over {scheme}] checks over {rounds} rounds: "
                  + ", ".join(f"{key}: {count}" for key, count in sorted(seen.items())))
            print(f"[host-meta over {scheme}] probe CPU per round: web {web * 1000:.0f} ms, "
                  f"DNS only {dns_only * 1000:.0f} ms")
            per_endpoint = (web - dns_only) / (len(domains) * 4) * 1000
            figures.append(f"{per_endpoint:.2f} ms with host-meta over {scheme}")
    print(f"{len(domains)} domains x 4 HTTP endpoints (host-meta XML and JSON, BOSH, "
          "WebSocket); probe CPU per HTTP endpoint: " + ", ".join(figures))


def _cpu_of(domains: list[str], options: ProbeOptions, rounds: int
            ) -> tuple[float, dict[str, int]]:
    """Median probe CPU seconds of ``rounds`` runs (after a warm-up), and the checks seen."""
    seen: collections.Counter[str] = collections.Counter()

    async def run() -> None:
        async for result in probe_many(domains, options):
            seen.update(f"{c.id} {c.status}" for c in result.checks)

    asyncio.run(run())  # warm-up: imports, first connections
    seen.clear()
    spent = []
    for _ in range(rounds):
        before = cpu_seconds(os.getpid())
        asyncio.run(run())
        spent.append(cpu_seconds(os.getpid()) - before)
    return statistics.median(spent), dict(seen)


def parse_rtts(text: str) -> list[float]:
    """``--also-rtt-ms``: comma-separated round trips in ms, 0 for straight to Prosody."""
    found: list[float] = []
    for part in (p.strip() for p in text.split(",")):
        if not part:
            continue
        value = float(part)
        if not 0 <= value <= MAX_RTT_MS:
            raise ValueError(f"{part} is not in [0, {MAX_RTT_MS}]")
        if value not in found:
            found.append(value)
    return found


def progress(message: str) -> None:
    print(f"[bench/probe.py] {message}", file=sys.stderr, flush=True)


def run_round(domains: list[str], rtt_ms: float, cfg: prosody.ServerConfig, server_pid: int,
              directory: Path, args: argparse.Namespace) -> tuple[Round, list[str]]:
    """One latency: singles and parallel runs in this process; at a non-zero latency also
    ``--wall-sample`` domains as whole processes (xiot, and check_xmppng where it can)."""
    direct = Targets(cfg.ports.c2s, cfg.ports.c2s_direct, cfg.ports.s2s)
    singles = args.singles or len(domains)
    concurrency = args.concurrency or len(domains)

    def options(host: str, port: int) -> ProbeOptions:
        return ProbeOptions(resolver=(host, port), timeout=10.0, ca=directory / "ca.pem",
                            skip=("web",), concurrency=concurrency)

    progress(f"{rtt_ms:g} ms: {singles} single domains, then {args.repeat} parallel runs")
    if not rtt_ms:
        with helper(_dns_main, records(domains, direct), 0.0) as ((host, port), dns_pid):
            found = measure(domains, options(host, port), 0, singles, args.repeat,
                            {"Prosody": server_pid, "DNS server": dns_pid})
        return found, []
    rtt = rtt_ms / 1000
    upstreams = [direct.c2s, direct.c2s_direct, direct.s2s]
    with helper(_proxy_main, upstreams, rtt / 2) as (proxied, proxy_pid):
        targets = Targets(*proxied)
        with helper(_dns_main, records(domains, targets), rtt) as ((host, port), dns_pid):
            found = measure(domains, options(host, port), rtt_ms, singles, args.repeat,
                            {"Prosody": server_pid, "DNS server": dns_pid,
                             "proxy": proxy_pid})
            lines = wall_comparison(domains[: args.wall_sample], targets.c2s, host, port,
                                    directory, rtt_ms, found.singles)
    return found, lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--domains", type=int, default=100)
    parser.add_argument("--rtt-ms", type=float, default=200.0,
                        help="emulated round-trip time of the budget figure (DNS answer "
                             "delay; proxy delays half of it each way)")
    parser.add_argument("--also-rtt-ms", default="50,0",
                        help="other round trips measured in the same run and reported without "
                             "a budget, comma-separated; 0 is straight to Prosody, no proxy; "
                             "'' for none")
    parser.add_argument("--singles", type=int, default=0,
                        help="domains timed one at a time (default: all)")
    parser.add_argument("--concurrency", type=int, default=0,
                        help="domains probed at once (default: all of them)")
    parser.add_argument("--repeat", type=int, default=3, help="parallel runs per latency")
    parser.add_argument("--sample", type=int, default=20,
                        help="domains of the CPU comparison with check_xmppng")
    parser.add_argument("--cpu-repeat", type=int, default=3,
                        help="runs of each xiot process in the CPU comparison")
    parser.add_argument("--wall-sample", type=int, default=5,
                        help="domains timed as whole processes at each emulated latency")
    parser.add_argument("--web", action="store_true",
                        help="measure the CPU of the HTTP checks per endpoint instead")
    args = parser.parse_args()
    if not 0 < args.rtt_ms <= MAX_RTT_MS or not 0 < args.domains <= 1000:
        parser.error(f"--rtt-ms must be in (0, {MAX_RTT_MS}] and --domains in 1-1000")
    try:
        also = [rtt for rtt in parse_rtts(args.also_rtt_ms) if rtt != args.rtt_ms]
    except ValueError as exc:
        parser.error(f"--also-rtt-ms: {exc}")
    if not 2 <= args.sample <= 1000 or not 1 <= args.cpu_repeat <= 20:
        parser.error("--sample must be in 2-1000 and --cpu-repeat in 1-20")
    if not 0 <= args.wall_sample <= 1000 or not 1 <= args.repeat <= 20:
        parser.error("--wall-sample must be in 0-1000 and --repeat in 1-20")
    if args.domains < 2:
        parser.error("--domains must be at least 2 (the CPU comparison needs 1 and N)")
    domains = [f"d{i:03d}.bench.test" for i in range(args.domains)]
    concurrency = args.concurrency or len(domains)
    rounds: list[Round] = []
    walls: list[str] = []
    load_before = os.getloadavg()[0]
    as_installed()  # xiot processes run from bytecode, as an install has it
    with tempfile.TemporaryDirectory(prefix="xiot-bench-") as tmp:
        directory = Path(tmp)
        cfg, pid = start_server(directory, domains)
        try:
            if args.web:
                web_cpu(domains, cfg, directory, args.repeat)
                return
            for rtt_ms in [*also, args.rtt_ms]:
                found, lines = run_round(domains, rtt_ms, cfg, pid, directory, args)
                rounds.append(found)
                walls += lines
            sample = domains[: args.sample]
            progress(f"CPU per endpoint: {len(sample)} domains, xiot and check_xmppng")
            cpu_lines, cpu_ratio = cpu_comparison(sample, cfg, directory,
                                                  args.cpu_repeat)
        finally:
            prosody.stop_pid(pid, cfg.config_file)
    print(f"{len(domains)} domains, {concurrency} at a time; each domain: 4 SRV and 2 address "
          "lookups, 3 endpoints (STARTTLS c2s, direct TLS c2s, STARTTLS s2s), no HTTP; "
          f"machine load average {load_before:.2f} at the start, {os.getloadavg()[0]:.2f} at "
          "the end")
    for found in rounds:
        print("\n".join(found.lines(len(domains))))
    print("\n".join(walls))
    *others, budget = rounds
    for found in others:
        where = (f"{found.rtt_ms:g} ms emulated round trip" if found.rtt_ms
                 else "0 ms, loopback, CPU-bound")
        print(f"ratio at {where} (parallel / slowest single; without a budget): "
              f"{found.median_parallel / found.slowest:.2f}")
    print("\n".join(cpu_lines))
    print("CPU ratio (xiot / check_xmppng per endpoint, same endpoints, start-up excluded, "
          f"budget <= 1.0): {cpu_ratio:.2f}")
    print(f"ratio (parallel / slowest single, {args.rtt_ms:g} ms emulated round trip, "
          f"budget <= 1.5): {budget.median_parallel / budget.slowest:.2f}")


def wall_comparison(sample: list[str], c2s_port: int, host: str, port: int, directory: Path,
                    rtt_ms: float, single_times: list[float]) -> list[str]:
    """Per-domain wall times of check_xmppng and of the xiot command, as whole processes."""
    where = f"[{rtt_ms:g} ms emulated round trip, through the proxy]"
    lines: list[str] = []
    if not sample:
        return lines
    common = ["--resolver", f"{host}:{port}", "--ca", str(directory / "ca.pem"),
              "--skip", "web", "-o", "nagios"]
    xiot_walls = [run_child([xiot_executable(), "probe", d, *common], env=xiot_env()).wall
                  for d in sample]
    if not os.access(CHECK_XMPPNG, os.X_OK):
        lines.append(f"check_xmppng: not installed ({CHECK_XMPPNG} missing; "
                     "apt-get install nagios-check-xmppng)")
    elif rtt_ms >= CHECK_XMPPNG_MAX_RTT_MS:
        child = run_child(check_xmppng(c2s_port, sample[0], directory))
        lines.append(f"{where} check_xmppng not timed: it waits at most 100 ms for each "
                     f"answer, so at this round trip it reads none: {child.stdout}")
    else:
        walls: list[float] = []
        internal: list[float] = []
        first = ""
        for domain in sample:
            child = run_child(check_xmppng(c2s_port, domain, directory))
            walls.append(child.wall)
            first = first or child.stdout
            match = re.search(r"time=([0-9.]+)s", child.stdout)
            if match:
                internal.append(float(match.group(1)))
        lines.append(f"{where} check_xmppng sample output: {first}")
        lines.append(
            f"{where} check_xmppng per domain (process, 1 endpoint, no SRV): median "
            f"{statistics.median(walls) * 1000:.1f} ms; its own 'request took' median "
            + (f"{statistics.median(internal) * 1000:.1f} ms" if internal else "n/a"))
    lines.append(f"{where} xiot probe per domain (process, 3 endpoints + DNS): median "
                 f"{statistics.median(xiot_walls) * 1000:.1f} ms ({len(sample)} domains)")
    lines.append(f"{where} xiot probe per domain (in-process, 3 endpoints + DNS): median "
                 f"{statistics.median(single_times) * 1000:.1f} ms")
    return lines


# -- CPU per endpoint ----------------------------------------------------------------------

#: check_xmppng waits at most 100 ms for the first bytes of each answer (measured: it passes
#: at 80 ms, fails at 95 ms).
CHECK_XMPPNG_MAX_RTT_MS = 90.0
CHILD_TIMEOUT = 120.0
CONNECTION = re.compile(r"\[[^]]+\]:\d+/")


@dataclass(frozen=True)
class Child:
    wall: float
    #: User plus system CPU seconds of the process (and any it waited for), from wait4.
    cpu: float
    stdout: str
    returncode: int


def run_child(argv: list[str], env: dict[str, str] | None = None,
              timeout: float = CHILD_TIMEOUT) -> Child:
    """Run ``argv`` to its end (killed after ``timeout``); its own CPU from ``os.wait4``."""
    with tempfile.TemporaryFile() as out:
        started = time.perf_counter()
        process = subprocess.Popen(argv, stdout=out, stderr=subprocess.DEVNULL, env=env,
                                   stdin=subprocess.DEVNULL)
        timer = threading.Timer(timeout, process.kill)
        timer.start()
        try:
            _, status, usage = os.wait4(process.pid, 0)
        finally:
            timer.cancel()
        wall = time.perf_counter() - started
        process.returncode = os.waitstatus_to_exitcode(status)
        out.seek(0)
        text = out.read().decode(errors="replace").strip()
    return Child(wall, usage.ru_utime + usage.ru_stime, text, process.returncode)


def xiot_env() -> dict[str, str]:
    """The caller's environment without XIOT_* (a user's XIOT_OUTPUT must not change what
    is measured), no colour; ``main`` has compiled xiot's modules (``as_installed``)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("XIOT_")}
    env["NO_COLOR"] = "1"
    return env


def check_xmppng(port: int, domain: str, directory: Path) -> list[str]:
    # Debian's plugin needs Debian's python3 (its modules are not in other Pythons).
    return ["/usr/bin/python3", CHECK_XMPPNG, "-H", LOOPBACK, "-p", str(port),
            "--servername", domain, "--starttls", "-r", str(directory / "ca.pem")]


def starttls_c2s_records(domains: list[str], port: int) -> list[Record]:
    """Only ``_xmpp-client`` SRV records: each domain's one endpoint is the STARTTLS c2s
    port that check_xmppng is pointed at."""
    return [Record("xmpp.bench.test", "A", LOOPBACK)] + [
        Record(f"_xmpp-client._tcp.{domain}", "SRV", f"5 0 {port} xmpp.bench.test.")
        for domain in domains]


def _endpoints(ndjson: str) -> int:
    """Distinct (domain, endpoint) pairs among the checks of ``-o ndjson`` output, counting
    connections (``host[address]:port/starttls``) only."""
    import json

    seen = set()
    for line in ndjson.splitlines():
        with contextlib.suppress(ValueError):
            record = json.loads(line)
            endpoint = record.get("endpoint") if isinstance(record, dict) else None
            if endpoint and CONNECTION.search(endpoint):  # not a DNS check's host name
                seen.add((record.get("domain"), endpoint))
    return len(seen)


@dataclass(frozen=True)
class XiotCpu:
    """CPU of one form of ``xiot probe`` as processes: 1 domain and N domains."""

    name: str
    one: list[float]
    many: list[float]
    endpoints_one: int
    endpoints_many: int
    statuses: str

    @property
    def whole_per_endpoint(self) -> float:
        return statistics.median(self.one) / max(1, self.endpoints_one)

    @property
    def many_per_endpoint(self) -> float:
        return statistics.median(self.many) / max(1, self.endpoints_many)

    @property
    def marginal(self) -> float:
        extra = max(1, self.endpoints_many - self.endpoints_one)
        return (statistics.median(self.many) - statistics.median(self.one)) / extra


def cpu_comparison(sample: list[str], cfg: prosody.ServerConfig, directory: Path,
                   repeat: int) -> tuple[list[str], float]:
    """CPU per endpoint of check_xmppng and of ``xiot probe`` (see the module docstring), at
    0 ms straight to Prosody; the lines to print and the ratio with a budget."""
    ms = 1000
    where = "[CPU, 0 ms, straight to Prosody]"
    lines: list[str] = []
    env = xiot_env()
    xiot = xiot_executable()
    ca = str(directory / "ca.pem")
    direct = Targets(cfg.ports.c2s, cfg.ports.c2s_direct, cfg.ports.s2s)
    version = [run_child([xiot, "--version"], env=env).cpu for _ in range(repeat)]

    def xiot_forms(name: str, found: list[Record], extra: list[str]) -> XiotCpu:
        with helper(_dns_main, found, 0.0) as ((host, port), _):
            def argv(domains: list[str]) -> list[str]:
                return [xiot, "probe", *domains, "--resolver", f"{host}:{port}", "--ca", ca,
                        "-o", "ndjson", "-k", str(len(domains)), *extra]

            run_child(argv(sample[:1]), env=env)  # warm-up: page cache, Prosody's first TLS
            one: list[Child] = []
            many: list[Child] = []
            for _ in range(repeat):
                one.append(run_child(argv(sample[:1]), env=env))
                many.append(run_child(argv(sample), env=env))
        statuses = collections.Counter()
        for line in many[-1].stdout.splitlines():
            match = re.search(r'"status": ?"(\w+)"', line)
            if match:
                statuses[match.group(1)] += 1
        return XiotCpu(name, [c.cpu for c in one], [c.cpu for c in many],
                       _endpoints(one[-1].stdout), _endpoints(many[-1].stdout),
                       ", ".join(f"{k} {v}" for k, v in sorted(statuses.items())))

    comparable = xiot_forms("comparable", starttls_c2s_records(sample, direct.c2s),
                            ["--kind", "client", "--only", "tcp,tls,stream"])
    full = xiot_forms("full", records(sample, direct), ["--skip", "web"])

    if not os.access(CHECK_XMPPNG, os.X_OK):
        lines.append(f"check_xmppng: not installed ({CHECK_XMPPNG} missing; "
                     "apt-get install nagios-check-xmppng)")
        checks: list[Child] = []
        bases: list[Child] = []
    else:
        closed = free_ports(1, LOOPBACK)[0]
        run_child(check_xmppng(direct.c2s, sample[0], directory))  # warm-up
        checks, bases = [], []
        for domain in sample:
            bases.append(run_child(check_xmppng(closed, domain, directory)))
            checks.append(run_child(check_xmppng(direct.c2s, domain, directory)))
    ok = sum(c.returncode == 0 for c in checks)
    lines.append(f"{where} endpoints: the STARTTLS c2s port of {len(sample)} domains "
                 f"(127.0.0.1:{direct.c2s}, the domain as server name, TLS verified against "
                 "the bench CA): check_xmppng one process each, xiot one process for 1 domain "
                 f"and one for all {len(sample)}, {repeat} runs each, median; "
                 "user+system CPU from wait4")
    if checks:
        whole = statistics.median(c.cpu for c in checks)
        base = statistics.median(b.cpu for b in bases)
        check_marginal = statistics.median(c.cpu - b.cpu for c, b in zip(checks, bases,
                                                                        strict=True))
        lines.append(f"{where} check_xmppng: {ok}/{len(checks)} OK ({checks[0].stdout}); "
                     f"per endpoint {whole * ms:.1f} ms as a whole process; against a closed "
                     f"port (start-up, imports, output; no connection) {base * ms:.1f} ms; "
                     f"per endpoint excluding start-up {check_marginal * ms:.1f} ms")
    lines.append(f"{where} xiot --version: {statistics.median(version) * ms:.1f} ms; the "
                 "comparable probe of 1 domain spends "
                 f"{(statistics.median(comparable.one) - statistics.median(version)) * ms:.1f}"
                 " ms more (mostly importing asyncio, dnspython and cryptography)")
    for form, what in ((comparable, "--kind client --only tcp,tls,stream, zone with only "
                        "_xmpp-client: the same endpoint, plus xiot's SRV and address look-ups"),
                       (full, "full probe --skip web, 3 endpoints a domain")):
        lines.append(
            f"{where} xiot probe {what}: endpoints {form.endpoints_one} and "
            f"{form.endpoints_many}; CPU 1 domain {statistics.median(form.one) * ms:.1f} ms, "
            f"{len(sample)} domains {statistics.median(form.many) * ms:.1f} ms "
            f"(checks of the last run: {form.statuses})")
        lines.append(
            f"{where} xiot probe {form.name}: per endpoint {form.whole_per_endpoint * ms:.1f} "
            f"ms as a whole process for 1 domain, {form.many_per_endpoint * ms:.1f} ms with "
            f"{form.endpoints_many} endpoints in one process, excluding start-up "
            f"{form.marginal * ms:.1f} ms")
    if not checks:
        return lines, float("nan")
    lines.append(
        f"{where} CPU per endpoint, xiot / check_xmppng (without a budget): whole process for "
        f"one domain {comparable.whole_per_endpoint / whole:.2f}; full probe excluding "
        f"start-up {full.marginal / check_marginal:.2f}")
    return lines, comparable.marginal / check_marginal


if __name__ == "__main__":
    sys.exit(main())
