"""Probe many domains at once: DNS, every endpoint, HTTP endpoints and an optional login.

The time an operator waits is the time of the slowest domain, not the sum: domains run
concurrently under one bound, and within a domain every endpoint (each SRV target, each
address, STARTTLS and direct TLS, c2s and s2s) is probed concurrently under a smaller one, so
that one domain with many endpoints cannot starve the others and no server sees a burst of
more than a few connections from us.  Every wait has a deadline, so a round always ends.

Resolver failures (unreachable, garbage) are raised: they invalidate every domain's result.
Everything a domain itself gets wrong is a ``Check`` in its ``ProbeResult``.

What a run shares is built once per run, not per domain or per connection: the trust policy,
the nameservers (``--resolver``, used by every look-up: SRV, addresses, HTTP hosts, the
login) and the HTTP client's TLS context.  Each domain is validated once, up front.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator, Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING

from xiot.fanout import bounded
from xiot.probes import certs
from xiot.probes.dns import dns_checks
from xiot.probes.judge import stream_checks
from xiot.probes.report import Check, ProbeResult
from xiot.probes.stream import probe_stream
from xiot.probes.tls import TrustPolicy, tls_checks
from xiot.xmpp.dns import Kind, Nameserver, discover, nameservers_for, validate_domain

if TYPE_CHECKING:
    from xiot.config import Settings
    from xiot.probes.webclient import WebClient

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


def check_runnable(options: ProbeOptions) -> None:
    """``UsageError`` when ``--only``/``--skip`` select checks that cannot run.

    ``--only login`` without ``--login`` (or ``--only s2s`` with ``--kind client``) would
    otherwise print nothing and exit 0: a silent pass where the user asked for a verdict.
    """
    from xiot.errors import UsageError

    why: dict[str, str] = {}
    if options.login is None:
        why["login"] = "login checks need --login (and a profile with the account)"
    if "server" not in options.kinds:
        why["s2s"] = "s2s checks need --kind server or both"
    for pattern in options.only:
        group = pattern.split(".", 1)[0]
        if group in why:
            raise UsageError(f"--only {pattern} selects checks that cannot run: {why[group]}",
                             "Add what they need, or select other checks")
    if not any(options.wants_group(group) for group in GROUPS if group not in why):
        raise UsageError("--only/--skip leave no check that can run",
                         f"Check groups: {', '.join(GROUPS)}")


@dataclass(frozen=True)
class _Run:
    """What every domain of one probe run shares: trust, nameservers, the HTTP client."""

    policy: TrustPolicy
    nameservers: tuple[Nameserver, ...]
    web: WebClient | None = None


@contextlib.asynccontextmanager
async def _run_context(options: ProbeOptions) -> AsyncIterator[_Run]:
    policy = TrustPolicy.load(options.ca, options.warn_days, options.crit_days)
    nameservers = nameservers_for(options.resolver)
    if not options.wants_group("web"):
        yield _Run(policy, nameservers)
        return
    from xiot.probes.webclient import WebClient

    yield _Run(policy, nameservers, WebClient(nameservers, options.timeout, options.ca))


async def probe_domain(domain: str, options: ProbeOptions,
                       policy: TrustPolicy | None = None) -> ProbeResult:
    """Every selected check for one domain (validated here; ``probe_many`` for many)."""
    domain = validate_domain(domain)
    async with _run_context(options) as run:
        if policy is not None:
            run = replace(run, policy=policy)
        return await _probe(domain, options, run)


async def _probe(domain: str, options: ProbeOptions, run: _Run) -> ProbeResult:
    checks: list[Check] = []
    report = await discover(domain, resolver=run.nameservers, timeout=options.timeout,
                            kinds=options.kinds, validated=True)
    checks += dns_checks(report)
    tasks: list[asyncio.Task[tuple[Check, ...]]] = []
    if any(options.wants_group(g) for g in _CONNECT_GROUPS):
        tasks.append(asyncio.ensure_future(_endpoint_checks(domain, report.endpoints,
                                                            options, run.policy)))
    if run.web is not None:
        tasks.append(asyncio.ensure_future(_web_checks(domain, options, run.web)))
    login = options.login is not None and (options.wants_group("login")
                                           or options.wants("stream.sm"))
    if login:
        from xiot.probes.login import login_checks

        tasks.append(asyncio.ensure_future(login_checks(domain, options.login,  # type: ignore[arg-type]
                                                        run.nameservers)))
    for found in await asyncio.gather(*tasks):
        checks += found
    if "client" in options.kinds and report.endpoints_for("client") and not any(
            check.id == "stream.sm" for check in checks):
        checks.append(_sm_not_checked(domain, login))
    return ProbeResult(domain, tuple(c for c in checks if options.wants(c.id)))


async def _web_checks(domain: str, options: ProbeOptions, web: WebClient
                      ) -> tuple[Check, ...]:
    from xiot.probes.web import web_checks

    async with web.for_domain() as client:
        return await web_checks(domain, client=client, base=options.web_base,
                                bosh=options.wants("web.bosh"),
                                websocket=options.wants("web.websocket"))


def _sm_not_checked(domain: str, login: bool) -> Check:
    """``stream.sm`` when nothing could judge it: servers offer it after authentication."""
    why = ("the login did not judge it (see login.auth)" if login else
           "servers offer it only after authentication; add --login to check it")
    return Check(domain, "stream.sm", "skip", None,
                 f"stream management (XEP-0198) not checked: {why}")


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


def _validated(domains: Iterable[str]) -> list[str]:
    """Each domain checked once, duplicates (after normalising) dropped, order kept."""
    return list(dict.fromkeys(validate_domain(d) for d in domains))


async def probe_many(
    domains: Iterable[str], options: ProbeOptions
) -> AsyncIterator[ProbeResult]:
    """Probe ``domains`` concurrently (at most ``options.concurrency`` at a time) and yield
    each domain's result as soon as it is complete.  Malformed domains and selections that
    cannot run raise ``UsageError`` before anything is sent; a resolver failure cancels the
    rest and is raised."""
    names = _validated(domains)
    check_runnable(options)
    async for result in _probe_all(names, options):
        yield result


async def _probe_all(names: Sequence[str], options: ProbeOptions
                     ) -> AsyncIterator[ProbeResult]:
    """One round over domains already validated."""
    async with _run_context(options) as run:
        async for result in bounded(names, lambda name: _probe(name, options, run),
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
    names = _validated(domains)
    check_runnable(options)
    state: dict[CheckKey, Check] = {}
    number = 0
    while rounds <= 0 or number < rounds:
        number += 1
        started = time.monotonic()
        async for result in _probe_all(names, options):
            changed = changes(state, result)
            for key in [k for k in state if k[0] == result.domain]:
                del state[key]
            state.update((check_key(c), c) for c in result.checks)
            yield number, result, changed
        if rounds <= 0 or number < rounds:
            await asyncio.sleep(max(0.0, interval - (time.monotonic() - started)))
