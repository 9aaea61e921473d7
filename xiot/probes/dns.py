"""DNS checks: a ``DnsReport`` from ``xiot.xmpp.dns`` judged as probe checks.

Discovery itself (SRV order, XEP-0368 merge, fallback, aliases) lives in ``xiot.xmpp.dns``,
where the Session uses it to connect; this module only turns what DNS said into verdicts.
"""

from __future__ import annotations

from xiot.probes.report import Check, Status
from xiot.xmpp.dns import SERVICES, DnsReport, HostLookup, Kind, SrvLookup

# -- checks --------------------------------------------------------------------------------


def dns_checks(report: DnsReport) -> tuple[Check, ...]:
    """Turn a ``DnsReport`` into report checks (ids ``dns.srv.*``, ``dns.host``, ...)."""
    checks = [_srv_check(report, item) for item in report.srv]
    checks += [_host_check(report, item) for item in report.hosts]
    kinds: list[Kind] = sorted({SERVICES[item.service].kind for item in report.srv})
    # One kind switched off with '.' is a choice (a server-only domain); every kind switched
    # off means there is no XMPP service here at all, which a probe of the domain must fail.
    nothing = bool(kinds) and all(_disabled(report, kind) for kind in kinds)
    checks += [_endpoints_check(report, kind, nothing) for kind in kinds]
    checks.append(_dnssec_check(report))
    return tuple(checks)


def _disabled(report: DnsReport, kind: Kind) -> bool:
    """No endpoints because DNS says so: '.' records, and nothing else, for ``kind``."""
    lookups = [item for item in report.srv if SERVICES[item.service].kind == kind]
    return (not report.endpoints_for(kind)
            and all(item.status in ("disabled", "absent") for item in lookups)
            and any(item.status == "disabled" for item in lookups))


def _srv_check(report: DnsReport, item: SrvLookup) -> Check:
    info = SERVICES[item.service]
    status: Status
    details = {
        "qname": item.qname, "rcode": item.rcode, "authenticated": item.authenticated,
        "records": [r.to_text() for r in item.records], "aliases": list(item.aliases),
        "notes": list(item.notes),
    }
    if item.status == "found":
        status = "warn" if item.aliases or len(item.notes) else "ok"
        listed = ", ".join(r.to_text() for r in item.records)
        message = f"{len(item.records)} record(s): {listed}"
    elif item.status == "disabled":
        status, message = "ok", "service explicitly disabled by a '.' target (RFC 2782)"
    elif item.status == "absent":
        why = item.notes[-1] if item.notes else "no records"
        if info.direct_tls:
            status, message = "skip", f"no records ({why}); direct TLS not advertised"
        elif info.kind in report.fallback:
            # The fallback is allowed (RFC 6120 section 3.2.2) and works: advice, not a fault.
            status = "note"
            message = (f"no records ({why}); falling back to {report.domain}:"
                       f"{info.fallback_port} (RFC 6120 section 3.2.2; publish SRV records "
                       "to choose host and port)")
        else:
            status = "ok"
            message = (f"no records ({why}); no fallback because the other {info.kind} "
                       "service has records or is disabled")
    else:
        status = "fail"
        message = f"lookup failed: {item.rcode}" + (f" ({item.notes[0]})" if item.notes else "")
    return Check(report.domain, f"dns.srv.{item.service}", status, item.elapsed_ms, message,
                 None, details)


def _host_check(report: DnsReport, item: HostLookup) -> Check:
    details = {"addresses": list(item.addresses), "aliases": list(item.aliases),
               "authenticated": item.authenticated, "errors": list(item.errors)}
    status: Status
    if item.status == "found":
        status = "ok"
        message = f"{len(item.addresses)} address(es): {', '.join(item.addresses)}"
        is_srv_target = item.host != report.domain or not report.fallback
        if item.aliases and is_srv_target:
            status = "warn"
            message += f"; target is an alias of {item.aliases[-1]} (RFC 2782 forbids)"
        elif item.errors:
            status = "warn"
            message += f"; {'; '.join(item.errors)}"
    elif item.status == "absent":
        status, message = "fail", "no A or AAAA records"
    else:
        status, message = "fail", f"address lookup failed: {'; '.join(item.errors)}"
    return Check(report.domain, "dns.host", status, item.elapsed_ms, message, item.host, details)


def _endpoints_check(report: DnsReport, kind: Kind, nothing: bool = False) -> Check:
    """``dns.endpoints.KIND``; ``nothing`` when every kind probed is disabled by '.'."""
    endpoints = report.endpoints_for(kind)
    lookups = [item for item in report.srv if SERVICES[item.service].kind == kind]
    details = {"endpoints": [e.label for e in endpoints], "fallback": kind in report.fallback}
    status: Status
    if endpoints:
        status = "ok"
        message = f"{len(endpoints)} {kind} endpoint(s)"
        if kind in report.fallback:
            message += " from the A/AAAA fallback"
    elif any(item.status == "error" for item in lookups):
        status, message = "fail", f"no {kind} endpoints: SRV lookup failed"
    elif nothing:
        status = "fail"
        message = (f"no XMPP service: every SRV record of {report.domain} is '.' (\"decidedly "
                   "not available\", RFC 2782); remove them if the domain should serve XMPP")
    elif _disabled(report, kind):
        status, message = "skip", f"{kind} service disabled in DNS"
    else:
        status, message = "fail", f"no {kind} endpoints: targets have no addresses"
    return Check(report.domain, f"dns.endpoints.{kind}", status, None, message, None, details)


def _dnssec_check(report: DnsReport) -> Check:
    answers = [*report.srv, *report.hosts]
    secure = [item for item in answers if item.authenticated]
    status: Status
    if answers and len(secure) == len(answers):
        status, message = "ok", "every answer was DNSSEC-authenticated (AD bit set)"
    elif secure:
        status = "warn"
        message = f"{len(secure)} of {len(answers)} answers authenticated (AD bit set)"
    else:
        status, message = "skip", "resolver did not set the AD bit: answers not validated"
    return Check(report.domain, "dns.dnssec", status, None, message, None,
                 {"authenticated": len(secure), "answers": len(answers)})
