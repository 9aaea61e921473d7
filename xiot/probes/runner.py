"""Probe many domains at once: DNS, every endpoint, HTTP endpoints and an optional login.

The time an operator waits is the time of the slowest domain, not the sum: domains run
concurrently under one bound, and within a domain every endpoint (each SRV target, each
address, STARTTLS and direct TLS, c2s and s2s) is probed concurrently under a smaller one, so
that one domain with many endpoints cannot starve the others and no server sees a burst of
more than a few connections from us.  Every wait has a deadline, so a round always ends.

Resolver failures (unreachable, garbage) are raised: they invalidate every domain's result.
Everything a domain itself gets wrong is a ``Check`` in its ``ProbeResult``.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING

from xiot.fanout import bounded
from xiot.probes import certs
from xiot.probes.dns import dns_checks
from xiot.probes.report import Check, ProbeResult
from xiot.probes.stream import probe_stream, stream_checks
from xiot.probes.tls import TrustPolicy, tls_checks
from xiot.xmpp.dns import Kind, discover, lookup_host, validate_domain

if TYPE_CHECKING:
    from xiot.config import Settings

#: Check groups, by the first part of the check id; ``--only``/``--skip`` take these (or ids).
GROUPS = ("dns", "tcp", "tls", "stream", "sasl", "s2s", "web", "login")
_CONNECT_GROUPS = frozenset({"tcp", "tls", "stream", "sasl", "s2s"})

DEFAULT_CONCURRENCY = 100
ENDPOINT_CONCURRENCY = 8


@dataclass(frozen=True)
class ProbeOptions:
    """How to probe; ``resolver`` ``None`` means the system's nameservers."""

    resolver: tuple[str, int] | None = None
    timeout: float = 5.0
    ca: Path | None = None
    warn_days: float = certs.DEFAULT_WARN_DAYS
    crit_days: float = certs.DEFAULT_CRIT_DAYS
    kinds: tuple[Kind, ...] = ("client", "server")
    only: tuple[str, ...] = ()
    skip: tuple[str, ...] = ()
    web_base: str | None = None
    login: Settings | None = None
    concurrency: int = DEFAULT_CONCURRENCY
    s2s_from: str | None = None

    def wants(self, check_id: str) -> bool:
        """Whether ``check_id`` passes ``--only``/``--skip`` (by group or dotted prefix)."""
        def hit(patterns: Iterable[str]) -> bool:
            return any(check_id == p or check_id.startswith(p + ".") for p in patterns)

        return (not self.only or hit(self.only)) and not hit(self.skip)

    def wants_group(self, group: str) -> bool:
        """Whether any check of ``group`` can be selected (so the phase must run)."""
        if any(p == group or p.startswith(group + ".") for p in self.only):
            return group not in self.skip
        return not self.only and group not in self.skip


def check_selection(patterns: Iterable[str]) -> tuple[str, ...]:
    """Validate ``--only``/``--skip`` values: known groups or ids within them."""
    from xiot.errors import UsageError

    chosen: list[str] = []
    for raw in patterns:
        for item in (part.strip() for part in raw.split(",")):
            if not item:
                continue
            if item.split(".", 1)[0] not in GROUPS:
                raise UsageError(f"unknown check group {item!r}",
                                 f"Use one of {', '.join(GROUPS)} (or an id such as tls.expiry)")
            chosen.append(item)
    return tuple(chosen)


async def probe_domain(domain: str, options: ProbeOptions,
                       policy: TrustPolicy | None = None) -> ProbeResult:
    """Every selected check for one domain (already validated)."""
    policy = policy or TrustPolicy.load(options.ca, options.warn_days, options.crit_days)
    checks: list[Check] = []
    report = await discover(domain, resolver=options.resolver, timeout=options.timeout,
                            kinds=options.kinds)
    nameservers = report.nameservers
    checks += dns_checks(report)
    tasks: list[asyncio.Task[tuple[Check, ...]]] = []
    if any(options.wants_group(g) for g in _CONNECT_GROUPS):
        tasks.append(asyncio.ensure_future(_endpoint_checks(domain, report.endpoints,
                                                            options, policy)))
    if options.wants_group("web"):
        async def resolve(host: str) -> Sequence[str]:
            found = await lookup_host(host, nameservers, timeout=options.timeout)
            return found.addresses

        from xiot.probes.web import web_checks

        tasks.append(asyncio.ensure_future(web_checks(
            domain, resolve=resolve, timeout=options.timeout, base=options.web_base)))
    if options.login is not None and options.wants_group("login"):
        tasks.append(asyncio.ensure_future(login_checks(domain, options.login)))
    for found in await asyncio.gather(*tasks):
        checks += found
    return ProbeResult(domain, tuple(c for c in checks if options.wants(c.id)))


async def _endpoint_checks(domain: str, endpoints: Sequence, options: ProbeOptions,
                           policy: TrustPolicy) -> tuple[Check, ...]:
    limit = asyncio.Semaphore(ENDPOINT_CONCURRENCY)

    async def one(endpoint) -> tuple[tuple[Check, ...], str | None]:  # type: ignore[no-untyped-def]
        async with limit:
            probe = await probe_stream(
                domain, endpoint, timeout=options.timeout,
                from_domain=options.s2s_from if endpoint.kind == "server" else None)
        tls_error = probe.error if probe.error_phase == "tls" else None
        found, fingerprint = tls_checks(domain, endpoint, probe.tls, tls_error, policy)
        ordered = list(stream_checks(probe)) + list(found)
        return tuple(ordered), fingerprint

    results = await asyncio.gather(*(one(endpoint) for endpoint in endpoints))
    checks = [check for found, _ in results for check in found]
    fingerprints = {endpoint.label: fp for endpoint, (_, fp) in zip(endpoints, results,
                                                                    strict=True) if fp}
    if endpoints:
        checks.append(certs.same_certificate_check(domain, fingerprints))
    return tuple(checks)


async def login_checks(domain: str, settings: Settings) -> tuple[Check, ...]:
    """``login.auth``, ``login.bind`` and ``login.ping`` with the profile's account.

    Only the domain of the profile's JID is logged in to; other domains get one ``skip``.
    """
    from xiot.errors import XiotError
    from xiot.xmpp.jid import parse_jid
    from xiot.xmpp.ping import ping_once
    from xiot.xmpp.session import Session

    jid = parse_jid(settings.jid) if settings.jid else None
    if jid is None or jid.domain != domain:
        return (Check(domain, "login.auth", "skip", None,
                      f"the profile's JID ({settings.jid or 'none'}) is not on {domain}"),)
    session = Session(settings)
    started = time.perf_counter()
    try:
        await session.open()
    except XiotError as exc:
        return (Check(domain, "login.auth", "fail", (time.perf_counter() - started) * 1000,
                      exc.message, None, {"jid": str(jid.bare)}),)
    try:
        xmpp = session.client
        endpoint = str(session.endpoint) if session.endpoint else None
        checks = [Check(domain, "login.auth", "ok", session.connect_ms,
                        f"logged in as {jid.bare}", endpoint, {"jid": str(jid.bare)})]
        bound = str(xmpp.boundjid)
        checks.append(Check(domain, "login.bind", "ok" if xmpp.boundjid.resource else "fail",
                            None, f"bound {bound}", endpoint, {"jid": bound}))
        pong = await ping_once(session, domain, 1, settings.timeout)
        checks.append(Check(domain, "login.ping", "ok" if pong.status == "ok" else "fail",
                            pong.rtt_ms, "XEP-0199 ping answered" if pong.status == "ok"
                            else f"XEP-0199 ping: {pong.error}", endpoint))
        return tuple(checks)
    finally:
        await session.close()


async def probe_many(
    domains: Iterable[str], options: ProbeOptions
) -> AsyncIterator[ProbeResult]:
    """Probe ``domains`` concurrently (at most ``options.concurrency`` at a time) and yield
    each domain's result as soon as it is complete.  Malformed domains raise ``UsageError``
    before anything is sent; a resolver failure cancels the rest and is raised."""
    names = list(dict.fromkeys(validate_domain(d) for d in domains))
    policy = TrustPolicy.load(options.ca, options.warn_days, options.crit_days)

    async for result in bounded(names, lambda name: probe_domain(name, options, policy),
                                options.concurrency):
        yield result


# -- watching ------------------------------------------------------------------------------

CheckKey = tuple[str, str, str | None]


def check_key(check: Check) -> CheckKey:
    return (check.domain, check.id, check.endpoint)


def changes(previous: Mapping[CheckKey, Check], result: ProbeResult) -> list[Check]:
    """Checks of ``result`` whose status differs from the previous round (or that are new),
    plus a ``fail`` for each check that disappeared, each with ``details.previous``."""
    seen: set[CheckKey] = set()
    changed: list[Check] = []
    for check in result.checks:
        key = check_key(check)
        seen.add(key)
        before = previous.get(key)
        if before is None or before.status != check.status:
            details = {**check.details, "previous": before.status if before else None}
            changed.append(replace(check, details=details))
    for key, before in previous.items():
        if key[0] == result.domain and key not in seen:
            changed.append(replace(before, status="fail", elapsed_ms=None,
                                   message=f"no longer reported (was {before.status})",
                                   details={"previous": before.status}))
    return changed


async def watch(
    domains: Sequence[str], options: ProbeOptions, interval: float, rounds: int = 0
) -> AsyncIterator[tuple[int, ProbeResult, list[Check]]]:
    """Probe every ``interval`` seconds; yields ``(round, result, changed checks)``.

    Round 1 reports every check as changed.  ``rounds`` of 0 means until cancelled.
    """
    state: dict[CheckKey, Check] = {}
    number = 0
    while rounds <= 0 or number < rounds:
        number += 1
        started = time.monotonic()
        async for result in probe_many(domains, options):
            changed = changes(state, result)
            for key in [k for k in state if k[0] == result.domain]:
                del state[key]
            state.update((check_key(c), c) for c in result.checks)
            yield number, result, changed
        if rounds <= 0 or number < rounds:
            await asyncio.sleep(max(0.0, interval - (time.monotonic() - started)))
