"""A small authoritative DNS server for the lab and for probe tests.

Probe tests need SRV, XEP-0368, ``.``-target, CNAME and missing-record domains without touching
the machine's resolver or the Internet, so the lab answers for its own zones on a loopback
address and a free port.  It runs in a background thread so that synchronous and asyncio tests
can both use it, and it can misbehave on purpose (garbage, wrong ids, silence, SERVFAIL) so
that the probe's error paths are tested against a real socket rather than a mock.  ``delay``
makes it answer like a resolver across a network: every answer leaves that many seconds after
its query arrived, and queries that arrive meanwhile are answered on their own schedule.

Example::

    records = [Record("_xmpp-client._tcp.example.test", "SRV", "5 0 5222 xmpp.example.test."),
               Record("xmpp.example.test", "A", "127.0.0.1")]
    with serve_dns(records) as (host, port):
        ...  # point the resolver at host:port
"""

from __future__ import annotations

import contextlib
import heapq
import itertools
import selectors
import socket
import threading
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Literal

import dns.exception
import dns.flags
import dns.message
import dns.name
import dns.rcode
import dns.rdata
import dns.rdataclass
import dns.rdatatype
import dns.rrset

from xiot.errors import LabError

Mode = Literal["normal", "garbage", "wrong-id", "silent", "servfail", "refused"]

#: Record types the lab serves; others are rejected when the zone data is loaded.
SUPPORTED_TYPES = frozenset({"SRV", "A", "AAAA", "CNAME", "TXT", "TLSA", "NS", "SOA"})

#: CNAME hops followed inside our own data before giving up (a loop guard).
MAX_CNAME_HOPS = 8

_TCP_READ_TIMEOUT = 1.0
_SELECT_INTERVAL = 0.05
_BIND_ATTEMPTS = 20
#: TCP connections answered at the same time when answers are delayed (others wait their turn).
_DELAYED_TCP_WORKERS = 32
#: Answers remembered per server (by query without its id); the zone data never changes.
_MAX_CACHED_REPLIES = 4096
#: Modes whose answer depends on nothing but the question, so that it can be remembered.
_CACHEABLE_MODES = frozenset({"normal", "servfail", "refused"})
#: Upper bound of ``delay``: a lab server that answers later than this is a mistake.
MAX_DELAY = 10.0


@dataclass(frozen=True)
class Record:
    """One resource record in presentation form, e.g. ``Record(name, "SRV", "5 0 5222 x.")``.

    Names are taken as absolute whether or not they end with a dot; ``value`` is the RDATA as
    it would appear in a zone file (targets inside it should end with a dot).
    """

    name: str
    rtype: str
    value: str
    ttl: int = 300


@dataclass(frozen=True)
class QueryLog:
    """What a client asked, so tests can assert that every lookup went to our server."""

    name: str
    rtype: str
    transport: Literal["udp", "tcp"]


class LabDnsServer:
    """An authoritative server for in-memory zones, on UDP and TCP of one loopback port.

    ``zones`` are the names we are authoritative for: names under them that have no records
    get NXDOMAIN (or NODATA when they exist with other types), names outside get REFUSED.
    Without ``zones``, each record's last two labels are taken as its zone.

    ``mode`` makes the server misbehave for error-path tests: ``garbage`` answers bytes that
    do not parse as a DNS message, ``wrong-id`` sends a well-formed answer with another id,
    ``silent`` never answers, ``servfail``/``refused`` answer with that rcode.
    ``authenticated`` sets the AD bit, as a validating resolver would for signed zones.
    ``truncate_udp`` answers every UDP query with TC set, forcing clients over to TCP.
    ``delay`` (seconds, at most ``MAX_DELAY``) holds every answer back that long after its
    query arrived, without holding up other queries: an emulated round trip to a far resolver.
    """

    def __init__(
        self,
        records: Iterable[Record] = (),
        *,
        zones: Iterable[str] | None = None,
        host: str = "127.0.0.1",
        mode: Mode = "normal",
        authenticated: bool = False,
        truncate_udp: bool = False,
        delay: float = 0.0,
    ) -> None:
        if not 0 <= delay <= MAX_DELAY:
            raise LabError(f"the lab DNS server's delay must be 0-{MAX_DELAY:g} s, not {delay}")
        self.host = host
        self.delay = delay
        self.mode: Mode = mode
        self.authenticated = authenticated
        self.truncate_udp = truncate_udp
        self.queries: list[QueryLog] = []
        #: Exceptions met while serving (the thread keeps going); empty in a healthy run.
        self.errors: list[Exception] = []
        self._data = _load(records)
        self._zones = _zones(zones, self._data)
        self._udp: socket.socket | None = None
        self._tcp: socket.socket | None = None
        self._thread: threading.Thread | None = None
        self._stop = threading.Event()
        #: Delayed UDP answers: (due time, sequence, reply, peer), soonest first.
        self._due: list[tuple[float, int, bytes, object]] = []
        self._sequence = itertools.count()
        self._tcp_workers = threading.BoundedSemaphore(_DELAYED_TCP_WORKERS)
        self._replies: dict[tuple[object, ...], tuple[QueryLog | None, bytes]] = {}
        self.port = 0

    # -- lifecycle -------------------------------------------------------------------------

    @property
    def address(self) -> tuple[str, int]:
        """``(host, port)`` the server listens on (port 0 until started)."""
        return (self.host, self.port)

    def start(self, port: int = 0) -> tuple[str, int]:
        """Bind ``port`` (if free, else a free one) on UDP and TCP and answer in a thread."""
        if self._thread is not None:
            raise LabError("the lab DNS server is already running")
        self._udp, self._tcp = _bind_pair(self.host, port)
        self.port = self._udp.getsockname()[1]
        self._stop.clear()
        self._thread = threading.Thread(
            target=self._serve, name=f"lab-dns-{self.port}", daemon=True
        )
        self._thread.start()
        return self.address

    def stop(self) -> None:
        """Stop answering and close the sockets; safe to call twice."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None
        self._due.clear()
        for sock in (self._udp, self._tcp):
            if sock is not None:
                sock.close()
        self._udp = self._tcp = None

    def __enter__(self) -> tuple[str, int]:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    # -- serving ---------------------------------------------------------------------------

    def _serve(self) -> None:
        assert self._udp is not None and self._tcp is not None
        with selectors.DefaultSelector() as selector:
            selector.register(self._udp, selectors.EVENT_READ, "udp")
            selector.register(self._tcp, selectors.EVENT_READ, "tcp")
            while not self._stop.is_set():
                wait = _SELECT_INTERVAL
                if self._due:
                    wait = min(wait, max(self._due[0][0] - time.monotonic(), 0.0))
                for key, _ in selector.select(wait):
                    try:
                        if key.data == "udp":
                            self._serve_udp()
                        else:
                            self._serve_tcp()
                    except Exception as exc:  # keep serving; tests read ``errors``
                        self.errors.append(exc)
                self._send_due()

    def _serve_udp(self) -> None:
        assert self._udp is not None
        arrived = time.monotonic()
        wire, peer = self._udp.recvfrom(65535)
        reply = self.respond(wire, "udp")
        if reply is None:
            return
        if self.delay > 0:
            heapq.heappush(self._due, (arrived + self.delay, next(self._sequence), reply, peer))
        else:
            self._udp.sendto(reply, peer)

    def _send_due(self) -> None:
        now = time.monotonic()
        while self._due and self._due[0][0] <= now:
            _, _, reply, peer = heapq.heappop(self._due)
            try:
                assert self._udp is not None
                self._udp.sendto(reply, peer)
            except OSError as exc:
                self.errors.append(exc)

    def _serve_tcp(self) -> None:
        assert self._tcp is not None
        conn, _ = self._tcp.accept()
        if self.delay > 0 and self._tcp_workers.acquire(blocking=False):
            # A delayed answer must not hold up the other clients: one thread per connection.
            threading.Thread(target=self._serve_tcp_worker, args=(conn,), daemon=True,
                             name=f"lab-dns-{self.port}-tcp").start()
        else:
            self._serve_connection(conn)

    def _serve_tcp_worker(self, conn: socket.socket) -> None:
        try:
            self._serve_connection(conn)
        except Exception as exc:
            self.errors.append(exc)
        finally:
            self._tcp_workers.release()

    def _serve_connection(self, conn: socket.socket) -> None:
        with conn:
            conn.settimeout(_TCP_READ_TIMEOUT)
            # A client may send several queries on one connection; stop at EOF or silence.
            for _ in range(16):
                header = _recv_exact(conn, 2)
                if header is None:
                    return
                wire = _recv_exact(conn, int.from_bytes(header, "big"))
                if wire is None:
                    return
                arrived = time.monotonic()
                reply = self.respond(wire, "tcp")
                if reply is None:
                    return
                if self.delay > 0:
                    time.sleep(max(arrived + self.delay - time.monotonic(), 0.0))
                conn.sendall(len(reply).to_bytes(2, "big") + reply)

    def respond(self, wire: bytes, transport: Literal["udp", "tcp"] = "udp") -> bytes | None:
        """The bytes to send back for query ``wire`` (``None``: stay silent).

        Public so that unit tests can exercise the answering logic without sockets.  A query
        asked before (same bytes apart from the id) gets the same answer again without being
        parsed: the zone data never changes, and a probe of many domains asks the same
        questions over and over.
        """
        key = (self.mode, self.authenticated, self.truncate_udp, transport, wire[2:])
        cached = self._replies.get(key) if self.mode in _CACHEABLE_MODES else None
        if cached is not None:
            log, reply = cached
            if log is not None:
                self.queries.append(log)
            return wire[:2] + reply
        try:
            query = dns.message.from_wire(wire)
        except dns.exception.DNSException:
            return None
        log = None
        if query.question:
            question = query.question[0]
            log = QueryLog(
                question.name.to_text(omit_final_dot=True),
                dns.rdatatype.to_text(question.rdtype),
                transport,
            )
            self.queries.append(log)
        if self.mode == "silent":
            return None
        if self.mode == "garbage":
            return _garbage(wire)
        response = self._answer(query)
        if transport == "udp" and self.truncate_udp:
            response = dns.message.make_response(query)
            response.flags |= dns.flags.TC
        if self.mode == "wrong-id":
            response.id = (query.id + 1) % 65536
        reply = response.to_wire()
        if self.mode in _CACHEABLE_MODES and len(wire) >= 2:
            if len(self._replies) >= _MAX_CACHED_REPLIES:
                self._replies.clear()
            self._replies[key] = (log, reply[2:])
        return reply

    def _answer(self, query: dns.message.Message) -> dns.message.Message:
        response = dns.message.make_response(query)
        response.flags |= dns.flags.AA
        if self.authenticated:
            response.flags |= dns.flags.AD
        if self.mode in ("servfail", "refused"):
            response.flags &= ~(dns.flags.AA | dns.flags.AD)
            response.set_rcode(dns.rcode.SERVFAIL if self.mode == "servfail" else dns.rcode.REFUSED)
            return response
        if len(query.question) != 1:
            response.set_rcode(dns.rcode.FORMERR)
            return response
        question = query.question[0]
        name, rdtype = question.name, question.rdtype
        zone = self._zone_of(name)
        if zone is None or question.rdclass != dns.rdataclass.IN:
            response.flags &= ~dns.flags.AA
            response.set_rcode(dns.rcode.REFUSED)
            return response
        seen = {name}
        for _ in range(MAX_CNAME_HOPS):
            node = self._data.get(name, {})
            cname = node.get(dns.rdatatype.CNAME)
            if cname is None or rdtype == dns.rdatatype.CNAME:
                break
            if cname[0].target in seen:
                # A loop: send the chain once and let the client notice.
                response.answer.append(cname)
                return response
            seen.add(cname[0].target)
            response.answer.append(cname)
            name = cname[0].target
            zone = self._zone_of(name)
            if zone is None:
                # The alias leaves our zones; like a real authoritative server, stop here.
                return response
        node = self._data.get(name, {})
        if rdtype in node:
            response.answer.append(node[rdtype])
            return response
        response.authority.append(self._soa(zone))
        if not node and not self._has_children(name):
            response.set_rcode(dns.rcode.NXDOMAIN)
        return response

    def _zone_of(self, name: dns.name.Name) -> dns.name.Name | None:
        matches = [zone for zone in self._zones if name.is_subdomain(zone)]
        return max(matches, key=len, default=None)

    def _has_children(self, name: dns.name.Name) -> bool:
        """Whether ``name`` is an empty non-terminal (NODATA, not NXDOMAIN)."""
        return any(owner != name and owner.is_subdomain(name) for owner in self._data)

    def _soa(self, zone: dns.name.Name) -> dns.rrset.RRset:
        return dns.rrset.from_text(
            zone, 60, "IN", "SOA",
            f"ns.{zone.to_text()} hostmaster.{zone.to_text()} 1 3600 600 86400 60",
        )


@contextlib.contextmanager
def serve_dns(records: Iterable[Record] = (), **options: object) -> Iterator[tuple[str, int]]:
    """Run a ``LabDnsServer`` for the duration of a ``with`` block; yields ``(host, port)``.

    ``options`` are passed to ``LabDnsServer`` (``zones``, ``host``, ``mode``,
    ``authenticated``, ``truncate_udp``, ``delay``).
    """
    server = LabDnsServer(records, **options)  # type: ignore[arg-type]
    with server as address:
        yield address


# -- helpers -------------------------------------------------------------------------------


def _load(records: Iterable[Record]) -> dict[dns.name.Name, dict[int, dns.rrset.RRset]]:
    data: dict[dns.name.Name, dict[int, dns.rrset.RRset]] = {}
    for record in records:
        rtype = record.rtype.upper()
        if rtype not in SUPPORTED_TYPES:
            raise LabError(f"the lab DNS server cannot serve {record.rtype} records")
        try:
            name = dns.name.from_text(record.name.rstrip(".") + ".")
            rdata = dns.rdata.from_text(
                dns.rdataclass.IN, rtype, record.value, origin=dns.name.root, relativize=False
            )
        except (dns.exception.DNSException, ValueError) as exc:
            raise LabError(f"bad lab DNS record {record}: {exc}") from exc
        node = data.setdefault(name, {})
        rdtype = dns.rdatatype.from_text(rtype)
        rrset = node.get(rdtype)
        if rrset is None:
            rrset = node[rdtype] = dns.rrset.RRset(name, dns.rdataclass.IN, rdtype)
        rrset.add(rdata, record.ttl)
    return data


def _zones(
    zones: Iterable[str] | None, data: dict[dns.name.Name, dict[int, dns.rrset.RRset]]
) -> tuple[dns.name.Name, ...]:
    if zones is not None:
        return tuple(dns.name.from_text(zone.rstrip(".") + ".") for zone in zones)
    inferred = set()
    for name in data:
        labels = name.labels[-3:]  # the last two labels and the root label
        inferred.add(dns.name.Name(labels))
    return tuple(inferred)


def _bind_pair(host: str, wanted: int = 0) -> tuple[socket.socket, socket.socket]:
    """A UDP and a TCP socket bound to the same port on ``host``: ``wanted`` if it is free
    (a restarted lab keeps its DNS port), otherwise any free one."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    last_error: OSError | None = None
    for attempt in range(_BIND_ATTEMPTS):
        udp = socket.socket(family, socket.SOCK_DGRAM)
        try:
            # Room for a burst of queries from a probe of many domains at once.
            udp.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4 * 1024 * 1024)
            udp.bind((host, wanted if attempt == 0 else 0))
            port = udp.getsockname()[1]
            tcp = socket.socket(family, socket.SOCK_STREAM)
            try:
                tcp.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
                tcp.bind((host, port))
                tcp.listen(16)
            except OSError as exc:
                tcp.close()
                raise exc
        except OSError as exc:
            udp.close()
            last_error = exc
            continue
        return udp, tcp
    raise LabError(f"could not bind a UDP+TCP port pair on {host}: {last_error}")


def _recv_exact(conn: socket.socket, size: int) -> bytes | None:
    chunks = b""
    while len(chunks) < size:
        try:
            chunk = conn.recv(size - len(chunks))
        except OSError:
            return None
        if not chunk:
            return None
        chunks += chunk
    return chunks


def _garbage(query_wire: bytes) -> bytes:
    """A reply that keeps the query id but cannot be parsed as a DNS message.

    Keeping the id makes the client read it as *the* answer, not as a stray packet: the header
    claims one question and five answers, and the body ends in the middle of a label.
    """
    query_id = query_wire[:2] if len(query_wire) >= 2 else b"\x00\x00"
    return query_id + b"\x81\x80\x00\x01\x00\x05\x00\x00\x00\x00\x07garb"
