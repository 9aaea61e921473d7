"""The DNS exchange under xiot's discovery: queries, resends, TCP after truncation, errors.

Kept apart from ``xiot.xmpp.dns`` (what the records mean for XMPP) so that each module holds
one concern.  Resolver failures are raised, not reported: an unreachable resolver (no answer
within the timeout, or a refused port) raises ``ResolverUnreachable`` and one that answers
bytes that are not a DNS answer to our question raises ``ResolverGarbage``; both are
``ConnectError`` (exit code 4).  Per-name outcomes (NXDOMAIN, NODATA, SERVFAIL) are data.
See ``xiot.xmpp.dns`` for why dnspython's query functions are used rather than its resolver.
"""

from __future__ import annotations

import asyncio
import socket
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import NamedTuple

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

from xiot.errors import ConfigError, ConnectError

#: Seconds before the first UDP retransmission; each further one waits twice as long.
UDP_RETRY_AFTER = 1.0
#: Aliases followed for one name before we call it a loop.
MAX_CNAME_HOPS = 8


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


@dataclass(frozen=True)
class Resolution:
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


async def resolve(
    name: dns.name.Name,
    rdtype: dns.rdatatype.RdataType,
    nameservers: Sequence[Nameserver],
    timeout: float,
) -> Resolution:
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
            return Resolution(None, rcode, tuple(aliases), authenticated)
        asked = current
        for _ in range(MAX_CNAME_HOPS + 1):
            rrset = response.get_rrset(response.answer, current, dns.rdataclass.IN, rdtype)
            if rrset is not None:
                return Resolution(rrset, rcode, tuple(aliases), authenticated)
            cname = response.get_rrset(
                response.answer, current, dns.rdataclass.IN, dns.rdatatype.CNAME
            )
            if cname is None:
                break
            current = cname[0].target
            target = current.to_text(omit_final_dot=True)
            if current == name or target in aliases or len(aliases) >= MAX_CNAME_HOPS:
                note = f"alias chain loops or exceeds {MAX_CNAME_HOPS} hops at {target}"
                return Resolution(None, "NOERROR", tuple(aliases), authenticated, (note,))
            aliases.append(target)
        if current == asked or response.rcode() == dns.rcode.NXDOMAIN:
            return Resolution(None, rcode, tuple(aliases), authenticated)
        # The answer stopped at an alias whose target it did not include: ask for the target.
    note = f"alias chain exceeds {MAX_CNAME_HOPS} hops"
    return Resolution(None, "NOERROR", tuple(aliases), authenticated, (note,))


def name_text(name: dns.name.Name) -> str:
    return "." if name == dns.name.root else name.to_text(omit_final_dot=True)
