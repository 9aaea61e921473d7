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
import time
from collections.abc import Awaitable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Literal, TypeVar

import dns.asyncquery
import dns.exception
import dns.name
import dns.rdatatype

from xiot.errors import UsageError
from xiot.xmpp.dnsquery import (  # the exchange layer; some names re-exported for callers
    Nameserver,
    ResolverGarbage,
    ResolverUnreachable,
    name_text,
    nameservers_for,
    resolve,
    system_nameservers,
)
from xiot.xmpp.endpoints import SERVICES, Endpoint, Kind

__all__ = [
    "SERVICES", "DnsReport", "Endpoint", "HostLookup", "Kind", "Nameserver",
    "ResolverGarbage", "ResolverUnreachable", "SrvLookup", "SrvRecord", "discover",
    "lookup_host", "lookup_srv", "nameservers_for", "order_srv", "parse_resolver",
    "system_nameservers", "validate_domain",
]

T = TypeVar("T")
SrvStatus = Literal["found", "absent", "disabled", "error"]
HostStatus = Literal["found", "absent", "error"]


DEFAULT_TIMEOUT = 5.0
#: Records, targets and addresses beyond these are ignored (and said so), to bound the work.
MAX_SRV_RECORDS = 32
MAX_TARGETS = 32
MAX_ADDRESSES = 16


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
    result = await resolve(qname, dns.rdatatype.SRV, nameservers, timeout)
    elapsed = (time.perf_counter() - started) * 1000
    common = {
        "service": service,
        "qname": name_text(qname),
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
        SrvRecord(service, rd.priority, rd.weight, rd.port, name_text(rd.target),
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
        resolve(name, dns.rdatatype.AAAA, nameservers, timeout),
        resolve(name, dns.rdatatype.A, nameservers, timeout),
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
