"""DNS discovery for XMPP domains: SRV (RFC 6120, XEP-0368), fallback, aliases, DNSSEC.

Shared by the Session (where to connect) and the probe (what to judge), so both see one
``Endpoint`` type and one order.

What this module does that a plain resolver call does not:

* It looks up all four services (``_xmpp-client``, ``_xmpps-client``, ``_xmpp-server``,
  ``_xmpps-server``) and merges STARTTLS and direct-TLS records of one kind into a single
  RFC 2782 order, as XEP-0368 asks.
* A sole SRV target of ``.`` means "service decidedly not available" (RFC 2782): it is
  reported as *disabled* and never triggers the A/AAAA fallback.
* The fallback to the domain's A/AAAA on 5222 (client) or 5269 (server) happens only when
  both services of a kind have no records at all (NXDOMAIN or NODATA), never after an error:
  a SERVFAIL says nothing about whether SRV records exist.  There is no fallback for direct
  TLS, because XEP-0368 defines no default port.
* SRV targets that are aliases (CNAME) are flagged (RFC 2782 forbids them), and the AD bit of
  every answer is kept so that callers can say whether the resolver validated it.

Resolver failures are raised rather than reported, because they invalidate every check of
every domain: an unreachable resolver (no answer within the timeout, or a refused port) raises
``ResolverUnreachable`` and a resolver that answers bytes that are not a DNS answer to our
question raises ``ResolverGarbage``; both are ``ConnectError`` (exit code 4).  Per-name
problems (NXDOMAIN, NODATA, SERVFAIL, REFUSED for one name) are data in the results.

We send queries with dnspython's async query functions (``dns.asyncquery.udp``/``tcp``),
which tell the cases apart by exception type (``dns.exception.Timeout`` for silence,
``FormError``/``BadResponse`` and friends for an answer that is not one), rather than through
``dns.asyncresolver.Resolver``, which is used only to read the system's nameservers: the
resolver drops malformed and mismatched replies as a defence against spoofing and retries, so
a resolver that answers garbage looks exactly like one that does not answer at all (measured
with dnspython 2.9 against the lab DNS server: ``LifetimeTimeout`` after the full lifetime
for garbage, a wrong id and silence alike; ``test_garbage_answers_raise_a_clear_error`` needs
garbage reported at once).  What this module adds around the query functions: a connected UDP
socket (an ICMP "port unreachable" is a refusal at once, not a timeout), resends within the
budget (``udp()`` sends once), TCP after a truncated answer, and the nameservers in turn.
"""

from __future__ import annotations

import asyncio
import ipaddress
import random
import socket
import time
from collections.abc import Awaitable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Literal, NamedTuple, TypeVar

import dns.asyncbackend
import dns.asyncquery
import dns.exception
import dns.flags
import dns.inet
import dns.message
import dns.name
import dns.query
import dns.rcode
import dns.rdataclass
import dns.rdatatype
import dns.rrset

from xiot.errors import ConfigError, ConnectError, UsageError
from xiot.xmpp.endpoints import SERVICES, Endpoint, Kind

T = TypeVar("T")
SrvStatus = Literal["found", "absent", "disabled", "error"]
HostStatus = Literal["found", "absent", "error"]


DEFAULT_TIMEOUT = 5.0
#: Seconds before the first UDP retransmission; each further one waits twice as long.
UDP_RETRY_AFTER = 1.0
#: Aliases followed for one name before we call it a loop.
MAX_CNAME_HOPS = 8
#: Records, targets and addresses beyond these are ignored (and said so), to bound the work.
MAX_SRV_RECORDS = 32
MAX_TARGETS = 32
MAX_ADDRESSES = 16


class ResolverUnreachable(ConnectError):
    """No nameserver answered (timeout, refused port, network error)."""


class ResolverGarbage(ConnectError):
    """A nameserver answered with something that is not a DNS answer to our question."""


class Nameserver(NamedTuple):
    """A resolver address; a plain ``(ip, port)`` tuple works wherever this is expected."""

    host: str
    port: int = 53

    def __str__(self) -> str:
        return f"[{self.host}]:{self.port}" if ":" in self.host else f"{self.host}:{self.port}"


@dataclass(frozen=True)
class SrvRecord:
    """One SRV record; ``target`` is ``"."`` for the "no service" record."""

    service: str
    priority: int
    weight: int
    port: int
    target: str
    ttl: int

    @property
    def no_service(self) -> bool:
        return self.target == "."

    @property
    def direct_tls(self) -> bool:
        return SERVICES[self.service].direct_tls

    def to_text(self) -> str:
        return f"{self.priority} {self.weight} {self.port} {self.target}"


@dataclass(frozen=True)
class SrvLookup:
    """The outcome of one SRV query, with records in RFC 2782 order."""

    service: str
    qname: str
    status: SrvStatus
    records: tuple[SrvRecord, ...] = ()
    #: ``NOERROR``, ``NXDOMAIN``, ``SERVFAIL``...; ``NODATA`` is ``NOERROR`` with no records.
    rcode: str = "NOERROR"
    authenticated: bool = False
    #: CNAMEs followed from ``qname`` before the records were found.
    aliases: tuple[str, ...] = ()
    notes: tuple[str, ...] = ()
    elapsed_ms: float = 0.0


@dataclass(frozen=True)
class HostLookup:
    """The addresses of one SRV target (or of the domain itself, for the fallback)."""

    host: str
    status: HostStatus
    addresses: tuple[str, ...] = ()
    #: CNAMEs followed from ``host``; non-empty means the target is an alias.
    aliases: tuple[str, ...] = ()
    authenticated: bool = False
    errors: tuple[str, ...] = ()
    elapsed_ms: float = 0.0


@dataclass(frozen=True)
class DnsReport:
    """Everything DNS said about one domain, and the endpoints it leads to."""

    domain: str
    nameservers: tuple[Nameserver, ...]
    srv: tuple[SrvLookup, ...]
    hosts: tuple[HostLookup, ...]
    endpoints: tuple[Endpoint, ...]
    #: Kinds whose endpoints come from the A/AAAA fallback.
    fallback: tuple[Kind, ...] = ()
    elapsed_ms: float = 0.0
    notes: tuple[str, ...] = field(default=())

    def lookup(self, service: str) -> SrvLookup | None:
        return next((item for item in self.srv if item.service == service), None)

    def host(self, name: str) -> HostLookup | None:
        return next((item for item in self.hosts if item.host == name), None)

    def endpoints_for(self, kind: Kind) -> tuple[Endpoint, ...]:
        return tuple(endpoint for endpoint in self.endpoints if endpoint.kind == kind)

    @property
    def authenticated(self) -> bool:
        """True when every answer we got carried the AD bit."""
        answers = [*self.srv, *self.hosts]
        return bool(answers) and all(item.authenticated for item in answers)


# -- input ---------------------------------------------------------------------------------


def validate_domain(text: str) -> str:
    """The domain in lower-case A-label form, or ``UsageError`` saying what is wrong.

    Accepts Unicode (IDNA 2008 with UTS 46 mapping) and one trailing dot.  Rejects JIDs, URLs,
    IP literals (they have no SRV records: use a target override instead) and names that are
    not valid host names.
    """
    import idna

    raw = text.strip()
    if not raw:
        raise UsageError("empty domain", hint="Give a domain such as example.org.")
    if "@" in raw or "/" in raw:
        raise UsageError(
            f"{text!r} is not a domain",
            hint="Give the domain part only, e.g. example.org for user@example.org/res.",
        )
    domain = raw[:-1] if raw.endswith(".") else raw
    if _is_ip_literal(domain):
        raise UsageError(
            f"{text!r} is an IP address, not a domain",
            hint="SRV discovery needs a domain; connect to an address with a target override.",
        )
    try:
        ascii_form = idna.encode(domain, uts46=True).decode("ascii")
    except (idna.IDNAError, UnicodeError, ValueError) as exc:
        raise UsageError(
            f"{text!r} is not a valid domain name: {exc}",
            hint="Use letters, digits and hyphens in dot-separated labels.",
        ) from exc
    if len(ascii_form) > 253:
        raise UsageError(f"{text!r} is longer than the 253 characters DNS allows")
    return ascii_form.lower()


def parse_resolver(text: str) -> Nameserver:
    """Parse ``--resolver IP[:port]`` (``[v6]:port`` for IPv6 with a port)."""
    from xiot.addresses import split_host_port

    host, port = split_host_port(text, "resolver", "127.0.0.1:5353")
    try:
        ipaddress.ip_address(host)
    except ValueError as exc:
        raise UsageError(
            f"bad resolver {text!r}: {host!r} is not an IP address",
            hint="Give the resolver as IP[:port], e.g. 127.0.0.1:5353.",
        ) from exc
    return Nameserver(host, port or 53)


def system_nameservers() -> tuple[Nameserver, ...]:
    """The nameservers of the system configuration (``/etc/resolv.conf``)."""
    import dns.asyncresolver
    import dns.resolver

    try:
        resolver = dns.asyncresolver.Resolver()
    except (dns.resolver.NoResolverConfiguration, OSError) as exc:
        raise ConfigError(
            "no system DNS resolver is configured", hint="Pass --resolver IP[:port]."
        ) from exc
    port = resolver.port
    servers = tuple(
        Nameserver(ns, port) for ns in resolver.nameservers if isinstance(ns, str)
    )
    if not servers:
        raise ConfigError("no usable system DNS resolver", hint="Pass --resolver IP[:port].")
    return servers


# -- ordering ------------------------------------------------------------------------------


def order_srv(
    records: Iterable[SrvRecord], rng: random.Random | None = None
) -> tuple[SrvRecord, ...]:
    """RFC 2782 order: priority ascending, weighted random selection within a priority.

    ``rng`` makes the weighted choice reproducible in tests.  Within a priority, zero-weight
    records are placed first before the running sums are taken, as RFC 2782 prescribes; this
    gives them a small chance of being chosen first while heavier records usually win.
    """
    chooser = rng or random.Random()
    by_priority: dict[int, list[SrvRecord]] = {}
    for record in records:
        by_priority.setdefault(record.priority, []).append(record)
    ordered: list[SrvRecord] = []
    for priority in sorted(by_priority):
        remaining = sorted(by_priority[priority], key=lambda r: r.weight != 0)
        while remaining:
            total = sum(r.weight for r in remaining)
            pick = chooser.randint(0, total)
            running = 0
            for index, record in enumerate(remaining):
                running += record.weight
                if running >= pick:
                    ordered.append(remaining.pop(index))
                    break
    return tuple(ordered)


# -- queries -------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Resolution:
    """Records of one type for one name, after following aliases."""

    rrset: dns.rrset.RRset | None
    rcode: str
    aliases: tuple[str, ...]
    authenticated: bool
    notes: tuple[str, ...] = ()


async def exchange(
    qname: dns.name.Name,
    rdtype: dns.rdatatype.RdataType,
    nameservers: Sequence[tuple[str, int]],
    timeout: float,
) -> dns.message.Message:
    """Send one question to the nameservers in turn; the first well-formed answer wins.

    The question asks for the AD bit (RFC 6840 section 5.7) so that a validating resolver
    tells us whether the answer is DNSSEC-secure.  Truncated UDP answers are retried over TCP.
    Raises ``ResolverGarbage`` if any nameserver answered nonsense and none answered well,
    ``ResolverUnreachable`` if none answered at all.
    """
    nameservers = [Nameserver(str(host), int(port)) for host, port in nameservers]
    query = dns.message.make_query(qname, rdtype, use_edns=0, payload=1232)
    query.flags |= dns.flags.AD
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    garbage: list[str] = []
    silence: list[str] = []
    for index, server in enumerate(nameservers):
        remaining = deadline - loop.time()
        if remaining <= 0:
            break
        budget = remaining / (len(nameservers) - index)
        try:
            return await _ask(query, server, budget)
        except (dns.exception.Timeout, OSError, EOFError) as exc:
            silence.append(f"{server}: {_describe(exc)}")
        except (dns.exception.DNSException, ValueError, UnicodeError) as exc:
            garbage.append(f"{server}: {_describe(exc)}")
    name = qname.to_text(omit_final_dot=True)
    what = f"{name} {dns.rdatatype.to_text(rdtype)}"
    if garbage:
        raise ResolverGarbage(
            f"DNS resolver answered garbage for {what} ({'; '.join(garbage)})",
            hint="Check that --resolver points at a DNS server.",
        )
    detail = "; ".join(silence) or f"no time left within {timeout:g}s"
    raise ResolverUnreachable(
        f"DNS resolver did not answer for {what} ({detail})",
        hint="Check the resolver address (--resolver IP[:port]) or raise --timeout.",
    )


async def _ask(
    query: dns.message.Message, server: Nameserver, timeout: float
) -> dns.message.Message:
    started = time.monotonic()
    # A connected UDP socket turns an ICMP "port unreachable" into ConnectionRefusedError at
    # once; dnspython's own unconnected socket would wait out the whole timeout instead.
    family = dns.inet.af_for_address(server.host)
    backend = dns.asyncbackend.get_default_backend()
    try:
        sock = await backend.make_socket(
            family, socket.SOCK_DGRAM, 0, None, (server.host, server.port)
        )
        async with sock:
            # UDP gets lost (a busy resolver's receive buffer overflows when many domains
            # are probed at once): resend after 1 s, 2 s, ... within the budget (RFC 1035 4.2.1).
            wait = UDP_RETRY_AFTER
            while True:
                left = timeout - (time.monotonic() - started)
                try:
                    response = await dns.asyncquery.udp(
                        query, server.host, timeout=min(wait, left), port=server.port,
                        sock=sock, raise_on_truncation=True, ignore_unexpected=True,
                    )
                    break
                except dns.exception.Timeout:
                    if wait >= left:
                        raise
                    wait *= 2
    except dns.message.Truncated:
        left = max(timeout - (time.monotonic() - started), 0.05)
        response = await dns.asyncquery.tcp(query, server.host, timeout=left, port=server.port)
        if not query.is_response(response):
            raise dns.query.BadResponse from None
    return response


def _describe(exc: BaseException) -> str:
    if isinstance(exc, dns.exception.Timeout):
        return "timed out"
    if isinstance(exc, ConnectionRefusedError):
        return "connection refused"
    if isinstance(exc, dns.query.BadResponse):
        return "the answer does not match the question"
    if isinstance(exc, dns.exception.FormError):
        return "malformed DNS message"
    text = str(exc).strip().splitlines()
    return text[0] if text else type(exc).__name__


async def _resolve(
    name: dns.name.Name,
    rdtype: dns.rdatatype.RdataType,
    nameservers: Sequence[Nameserver],
    timeout: float,
) -> _Resolution:
    """Ask for ``rdtype`` at ``name``, following CNAMEs (within answers and by re-asking)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    aliases: list[str] = []
    authenticated = True
    current = name
    for _ in range(MAX_CNAME_HOPS + 1):
        response = await exchange(
            current, rdtype, nameservers, max(deadline - loop.time(), 0.001)
        )
        authenticated = authenticated and bool(response.flags & dns.flags.AD)
        rcode = dns.rcode.to_text(response.rcode())
        if response.rcode() not in (dns.rcode.NOERROR, dns.rcode.NXDOMAIN):
            return _Resolution(None, rcode, tuple(aliases), authenticated)
        asked = current
        for _ in range(MAX_CNAME_HOPS + 1):
            rrset = response.get_rrset(response.answer, current, dns.rdataclass.IN, rdtype)
            if rrset is not None:
                return _Resolution(rrset, rcode, tuple(aliases), authenticated)
            cname = response.get_rrset(
                response.answer, current, dns.rdataclass.IN, dns.rdatatype.CNAME
            )
            if cname is None:
                break
            current = cname[0].target
            target = current.to_text(omit_final_dot=True)
            if current == name or target in aliases or len(aliases) >= MAX_CNAME_HOPS:
                note = f"alias chain loops or exceeds {MAX_CNAME_HOPS} hops at {target}"
                return _Resolution(None, "NOERROR", tuple(aliases), authenticated, (note,))
            aliases.append(target)
        if current == asked or response.rcode() == dns.rcode.NXDOMAIN:
            return _Resolution(None, rcode, tuple(aliases), authenticated)
        # The answer stopped at an alias whose target it did not include: ask for the target.
    note = f"alias chain exceeds {MAX_CNAME_HOPS} hops"
    return _Resolution(None, "NOERROR", tuple(aliases), authenticated, (note,))


def _name_text(name: dns.name.Name) -> str:
    return "." if name == dns.name.root else name.to_text(omit_final_dot=True)


async def lookup_srv(
    domain: str,
    service: str,
    nameservers: Sequence[tuple[str, int]],
    *,
    timeout: float = DEFAULT_TIMEOUT,
    rng: random.Random | None = None,
) -> SrvLookup:
    """Look up ``_service._tcp.domain`` SRV and classify it (found/absent/disabled/error)."""
    if service not in SERVICES:
        raise ValueError(f"unknown XMPP service {service!r}")
    qname = dns.name.from_text(f"_{service}._tcp.{domain}.")
    started = time.perf_counter()
    result = await _resolve(qname, dns.rdatatype.SRV, nameservers, timeout)
    elapsed = (time.perf_counter() - started) * 1000
    common = {
        "service": service,
        "qname": _name_text(qname),
        "rcode": result.rcode,
        "authenticated": result.authenticated,
        "aliases": result.aliases,
        "elapsed_ms": elapsed,
    }
    notes = list(result.notes)
    if result.aliases:
        notes.append(f"SRV owner is an alias of {result.aliases[-1]}")
    if result.rcode not in ("NOERROR", "NXDOMAIN") or result.notes:
        return SrvLookup(status="error", notes=tuple(notes), **common)
    if result.rrset is None:
        rcode_note = "NXDOMAIN" if result.rcode == "NXDOMAIN" else "NODATA"
        return SrvLookup(status="absent", notes=(*notes, rcode_note), **common)
    records = [
        SrvRecord(service, rd.priority, rd.weight, rd.port, _name_text(rd.target),
                  result.rrset.ttl)
        for rd in result.rrset
    ]
    if len(records) > MAX_SRV_RECORDS:
        notes.append(f"{len(records)} records; only the first {MAX_SRV_RECORDS} are used")
        records = records[:MAX_SRV_RECORDS]
    real = [record for record in records if not record.no_service]
    if not real:
        return SrvLookup(status="disabled", records=tuple(records), notes=tuple(notes), **common)
    if len(real) != len(records):
        notes.append("a '.' target is mixed with real targets; RFC 2782 allows '.' only alone")
    return SrvLookup(
        status="found", records=order_srv(real, rng), notes=tuple(notes), **common
    )


async def lookup_host(
    host: str, nameservers: Sequence[tuple[str, int]], *, timeout: float = DEFAULT_TIMEOUT
) -> HostLookup:
    """AAAA and A records of ``host`` (queried concurrently), with aliases and AD bit."""
    name = dns.name.from_text(host.rstrip(".") + ".")
    started = time.perf_counter()
    results = await _gather_or_cancel(
        _resolve(name, dns.rdatatype.AAAA, nameservers, timeout),
        _resolve(name, dns.rdatatype.A, nameservers, timeout),
    )
    elapsed = (time.perf_counter() - started) * 1000
    addresses: list[str] = []
    errors: list[str] = []
    aliases: list[str] = []
    for family, result in zip(("AAAA", "A"), results, strict=True):
        errors.extend(f"{family}: {note}" for note in result.notes)
        if result.rcode not in ("NOERROR", "NXDOMAIN"):
            errors.append(f"{family}: {result.rcode}")
        if result.rrset is not None:
            addresses.extend(rd.address for rd in result.rrset)
        aliases.extend(alias for alias in result.aliases if alias not in aliases)
    if len(addresses) > MAX_ADDRESSES:
        errors.append(f"{len(addresses)} addresses; only the first {MAX_ADDRESSES} are used")
        addresses = addresses[:MAX_ADDRESSES]
    status: HostStatus = "found" if addresses else ("error" if errors else "absent")
    return HostLookup(
        host=host.rstrip("."),
        status=status,
        addresses=tuple(addresses),
        aliases=tuple(aliases),
        authenticated=all(result.authenticated for result in results),
        errors=tuple(errors),
        elapsed_ms=elapsed,
    )


async def _gather_or_cancel(*awaitables: Awaitable[T]) -> list[T]:
    """Like ``asyncio.gather``, but the first failure cancels the siblings.

    A resolver error aborts the whole discovery; without this the other lookups would keep
    running (until their own timeouts) after the caller has already moved on.
    """
    tasks = [asyncio.ensure_future(awaitable) for awaitable in awaitables]
    try:
        return list(await asyncio.gather(*tasks))
    except BaseException:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        raise


# -- discovery -----------------------------------------------------------------------------


def nameservers_for(resolver: tuple[str, int] | Sequence[tuple[str, int]] | None) -> tuple[
    Nameserver, ...
]:
    """``resolver`` (one ``(ip, port)``, several, or ``None`` for the system's) as nameservers.

    A caller that makes many look-ups (a probe run) resolves this once and passes the result,
    so that every look-up goes to the same servers.
    """
    if resolver is None:
        return system_nameservers()
    if len(resolver) == 2 and isinstance(resolver[0], str):
        return (Nameserver(str(resolver[0]), int(resolver[1])),)  # type: ignore[arg-type]
    return tuple(Nameserver(str(host), int(port)) for host, port in resolver)  # type: ignore[misc]


async def discover(
    domain: str,
    *,
    resolver: tuple[str, int] | Sequence[tuple[str, int]] | None = None,
    timeout: float = DEFAULT_TIMEOUT,
    kinds: Sequence[Kind] = ("client", "server"),
    rng: random.Random | None = None,
    validated: bool = False,
) -> DnsReport:
    """Resolve the XMPP endpoints of ``domain`` for ``kinds``.

    ``resolver`` is one ``(ip, port)`` or several; ``None`` uses the system's.  ``timeout``
    bounds each lookup (aliases and nameserver retries included); SRV lookups run together and
    then host lookups run together, so the whole takes at most about twice ``timeout``.
    Endpoints come in connection order: per kind, the merged STARTTLS and direct-TLS SRV order,
    then each target's IPv6 addresses before its IPv4 ones.  A malformed ``domain`` raises
    ``UsageError`` before any query is sent; ``validated=True`` says the caller has already
    passed it through ``validate_domain`` (a probe run checks each domain once, up front).
    """
    if not validated:
        domain = validate_domain(domain)
    nameservers = nameservers_for(resolver)
    started = time.perf_counter()
    services = [name for name, info in SERVICES.items() if info.kind in kinds]
    srv = await _gather_or_cancel(
        *(lookup_srv(domain, service, nameservers, timeout=timeout) for service in services)
    )
    plan: list[tuple[SrvRecord, bool]] = []
    fallback: list[Kind] = []
    for kind in kinds:
        lookups = [item for item in srv if SERVICES[item.service].kind == kind]
        found = (r for item in lookups if item.status == "found" for r in item.records)
        merged = order_srv(found, rng)
        plan.extend((record, False) for record in merged)
        if all(item.status == "absent" for item in lookups):
            fallback.append(kind)
            service = next(n for n, i in SERVICES.items() if i.kind == kind and not i.direct_tls)
            port = SERVICES[service].fallback_port
            assert port is not None
            plan.append((SrvRecord(service, 0, 0, port, domain, 0), True))
    targets = list(dict.fromkeys(record.target for record, _ in plan))
    notes: list[str] = []
    if len(targets) > MAX_TARGETS:
        notes.append(f"{len(targets)} SRV targets; only the first {MAX_TARGETS} are resolved")
        targets = targets[:MAX_TARGETS]
    hosts = await _gather_or_cancel(
        *(lookup_host(target, nameservers, timeout=timeout) for target in targets)
    )
    by_host = {item.host: item for item in hosts}
    endpoints: list[Endpoint] = []
    for record, is_fallback in plan:
        host = by_host.get(record.target)
        for address in host.addresses if host else ():
            endpoint = Endpoint(
                record.target, address, record.port, record.direct_tls, record.service,
                is_fallback,
            )
            if endpoint not in endpoints:
                endpoints.append(endpoint)
    return DnsReport(
        domain=domain,
        nameservers=nameservers,
        srv=tuple(srv),
        hosts=tuple(hosts),
        endpoints=tuple(endpoints),
        fallback=tuple(fallback),
        elapsed_ms=(time.perf_counter() - started) * 1000,
        notes=tuple(notes),
    )


def _is_ip_literal(text: str) -> bool:
    try:
        ipaddress.ip_address(text.strip("[]"))
    except ValueError:
        return False
    return True
