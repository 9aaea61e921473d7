"""DNS discovery against our own authoritative server on 127.0.0.1 (xiot.lab.dns).

These run in-process on loopback with short timeouts; nothing leaves the machine.
"""

from __future__ import annotations

import asyncio
import random
import socket
import time
from collections.abc import Iterator

import dns.message
import dns.rcode
import pytest

from xiot.errors import ConnectError, UsageError, XiotError
from xiot.lab.dns import LabDnsServer, Record, serve_dns
from xiot.probes.dns import dns_checks
from xiot.xmpp.dns import (
    DnsReport,
    ResolverGarbage,
    ResolverUnreachable,
    discover,
    lookup_host,
    lookup_srv,
)

TIMEOUT = 2.0

RECORDS = [
    # Every SRV kind, two targets with weights, plus a legacy TXT.
    Record("_xmpp-client._tcp.xiot.test", "SRV", "5 70 5222 a.xiot.test."),
    Record("_xmpp-client._tcp.xiot.test", "SRV", "5 30 5222 b.xiot.test."),
    Record("_xmpp-client._tcp.xiot.test", "SRV", "10 0 5222 c.xiot.test."),
    Record("_xmpps-client._tcp.xiot.test", "SRV", "1 0 5223 a.xiot.test."),
    Record("_xmpp-server._tcp.xiot.test", "SRV", "5 0 5269 a.xiot.test."),
    Record("_xmpps-server._tcp.xiot.test", "SRV", "5 0 5270 a.xiot.test."),
    Record("_xmppconnect.xiot.test", "TXT", '"_xmpp-client-xbosh=https://xiot.test/bosh"'),
    Record("a.xiot.test", "A", "127.0.0.1"),
    Record("a.xiot.test", "AAAA", "::1"),
    Record("b.xiot.test", "A", "127.0.0.2"),
    Record("c.xiot.test", "A", "127.0.0.3"),
    # XEP-0368 only: direct TLS on 443, no STARTTLS records.
    Record("_xmpps-client._tcp.tls.test", "SRV", "0 0 443 xmpp.tls.test."),
    Record("xmpp.tls.test", "A", "127.0.0.1"),
    Record("tls.test", "A", "127.0.0.9"),
    # No SRV at all: fall back to the domain's addresses.
    Record("nosrv.test", "A", "127.0.0.1"),
    Record("nosrv.test", "AAAA", "::1"),
    # '.' target: decidedly not available, even though the domain has an address.
    Record("_xmpp-client._tcp.disabled.test", "SRV", "0 0 0 ."),
    Record("_xmpps-client._tcp.disabled.test", "SRV", "0 0 0 ."),
    Record("disabled.test", "A", "127.0.0.1"),
    # SRV target that is an alias, inside and across zones.
    Record("_xmpp-client._tcp.alias.test", "SRV", "0 0 5222 xmpp.alias.test."),
    Record("_xmpp-server._tcp.alias.test", "SRV", "0 0 5269 far.alias.test."),
    Record("xmpp.alias.test", "CNAME", "real.alias.test."),
    Record("real.alias.test", "A", "127.0.0.1"),
    Record("far.alias.test", "CNAME", "host.other.test."),
    Record("host.other.test", "A", "127.0.0.4"),
    # Target without addresses, and an alias loop.
    Record("_xmpp-client._tcp.noaddr.test", "SRV", "0 0 5222 ghost.noaddr.test."),
    Record("_xmpp-client._tcp.loop.test", "SRV", "0 0 5222 a.loop.test."),
    Record("a.loop.test", "CNAME", "b.loop.test."),
    Record("b.loop.test", "CNAME", "a.loop.test."),
    # A '.' mixed with a real record.
    Record("_xmpp-client._tcp.mixed.test", "SRV", "0 0 0 ."),
    Record("_xmpp-client._tcp.mixed.test", "SRV", "5 0 5222 h.mixed.test."),
    Record("h.mixed.test", "A", "127.0.0.1"),
    # '.' for direct TLS only: STARTTLS serves, direct TLS is decidedly not available.
    Record("_xmpp-client._tcp.nodirect.test", "SRV", "5 0 5222 xmpp.nodirect.test."),
    Record("_xmpps-client._tcp.nodirect.test", "SRV", "0 0 0 ."),
    Record("_xmpp-server._tcp.nodirect.test", "SRV", "5 0 5269 xmpp.nodirect.test."),
    Record("xmpp.nodirect.test", "A", "127.0.0.1"),
]
ZONES = ["xiot.test", "tls.test", "nosrv.test", "disabled.test", "alias.test", "other.test",
         "noaddr.test", "loop.test", "mixed.test", "nodirect.test"]

#: A domain where all four services are '.': no XMPP at all, though it has an address.
ALL_DOT = [Record(f"_{service}._tcp.off.test", "SRV", "0 0 0 .")
           for service in ("xmpp-client", "xmpps-client", "xmpp-server", "xmpps-server")]
ALL_DOT.append(Record("off.test", "A", "127.0.0.1"))


@pytest.fixture(scope="module")
def server() -> Iterator[LabDnsServer]:
    lab = LabDnsServer(RECORDS, zones=ZONES)
    with lab:
        yield lab
    assert not lab.errors


def run_discover(server: LabDnsServer, domain: str, **kw: object) -> DnsReport:
    return asyncio.run(
        discover(domain, resolver=server.address, timeout=TIMEOUT, rng=random.Random(1), **kw)
    )


def by_id(report: DnsReport) -> dict[tuple[str, str | None], str]:
    return {(c.id, c.endpoint): c.status for c in dns_checks(report)}


def test_all_four_services_and_xep0368_merge(server: LabDnsServer) -> None:
    report = run_discover(server, "xiot.test")
    assert [s.status for s in report.srv] == ["found"] * 4
    client = report.endpoints_for("client")
    # The direct-TLS record has the best priority, so it comes first in the merged order.
    assert client[0].direct_tls and client[0].port == 5223
    hosts_in_order = list(dict.fromkeys(e.host for e in client))
    assert hosts_in_order[0] == "a.xiot.test"
    assert hosts_in_order[-1] == "c.xiot.test"
    assert set(hosts_in_order) == {"a.xiot.test", "b.xiot.test", "c.xiot.test"}
    # IPv6 before IPv4 for one target; every address becomes an endpoint.
    a_starttls = [e.address for e in client if e.host == "a.xiot.test" and not e.direct_tls]
    assert a_starttls == ["::1", "127.0.0.1"]
    server_eps = report.endpoints_for("server")
    assert {(e.port, e.direct_tls) for e in server_eps} == {(5269, False), (5270, True)}
    assert not report.fallback
    assert all(status != "fail" for status in by_id(report).values())


def test_every_query_went_to_our_server(server: LabDnsServer) -> None:
    before = len(server.queries)
    run_discover(server, "xiot.test", kinds=("client",))
    asked = {(q.name, q.rtype) for q in server.queries[before:]}
    assert ("_xmpp-client._tcp.xiot.test", "SRV") in asked
    assert ("b.xiot.test", "AAAA") in asked


def test_direct_tls_only_domain_does_not_fall_back(server: LabDnsServer) -> None:
    report = run_discover(server, "tls.test", kinds=("client",))
    assert report.lookup("xmpp-client").status == "absent"  # type: ignore[union-attr]
    assert [e.label for e in report.endpoints] == ["xmpp.tls.test[127.0.0.1]:443/directtls"]
    assert report.fallback == ()


def test_fallback_without_srv(server: LabDnsServer) -> None:
    report = run_discover(server, "nosrv.test")
    assert report.fallback == ("client", "server")
    assert {(e.address, e.port, e.fallback) for e in report.endpoints} == {
        ("::1", 5222, True), ("127.0.0.1", 5222, True),
        ("::1", 5269, True), ("127.0.0.1", 5269, True),
    }
    checks = {c.id: c for c in dns_checks(report)}
    # The fallback works (RFC 6120 allows it): advice to publish SRV records, not a warning.
    assert checks["dns.srv.xmpp-client"].status == "note"
    assert "falling back" in checks["dns.srv.xmpp-client"].message
    assert checks["dns.srv.xmpp-client"].details["rcode"] == "NXDOMAIN"


def test_dot_target_means_disabled_and_never_falls_back(server: LabDnsServer) -> None:
    report = run_discover(server, "disabled.test", kinds=("client",))
    assert [s.status for s in report.srv] == ["disabled", "disabled"]
    assert report.endpoints == ()
    assert report.fallback == ()
    assert report.hosts == ()  # '.' is never looked up as a host name
    checks = {c.id: c for c in dns_checks(report)}
    assert "disabled" in checks["dns.srv.xmpp-client"].message
    # Every kind asked about is "decidedly not available": no XMPP service, a failure.
    assert checks["dns.endpoints.client"].status == "fail"
    assert "no XMPP service" in checks["dns.endpoints.client"].message


def test_one_kind_disabled_while_the_other_serves_is_fine(server: LabDnsServer) -> None:
    # disabled.test: client '.', no server records, so s2s falls back to the A record.
    report = run_discover(server, "disabled.test")
    statuses = by_id(report)
    assert statuses[("dns.endpoints.client", None)] == "skip"
    assert statuses[("dns.endpoints.server", None)] == "ok"
    assert "fail" not in statuses.values()


def test_dot_for_one_service_only_is_fine(server: LabDnsServer) -> None:
    report = run_discover(server, "nodirect.test")
    statuses = by_id(report)
    assert report.lookup("xmpps-client").status == "disabled"  # type: ignore[union-attr]
    assert statuses[("dns.srv.xmpps-client", None)] == "ok"
    assert statuses[("dns.endpoints.client", None)] == "ok"
    assert "fail" not in statuses.values()


def test_every_service_disabled_fails() -> None:
    with serve_dns(ALL_DOT, zones=["off.test"]) as address:
        report = asyncio.run(discover("off.test", resolver=address, timeout=TIMEOUT))
    checks = [c for c in dns_checks(report) if c.id.startswith("dns.endpoints.")]
    assert [(c.id, c.status) for c in checks] == [("dns.endpoints.client", "fail"),
                                                  ("dns.endpoints.server", "fail")]


def test_dot_target_mixed_with_real_records_is_noted(server: LabDnsServer) -> None:
    lookup = asyncio.run(lookup_srv("mixed.test", "xmpp-client", [server.address],
                                    timeout=TIMEOUT))
    assert lookup.status == "found"
    assert [r.target for r in lookup.records] == ["h.mixed.test"]
    assert any("'.'" in note for note in lookup.notes)


def test_cname_targets_are_flagged_and_followed_across_zones(server: LabDnsServer) -> None:
    report = run_discover(server, "alias.test")
    near = report.host("xmpp.alias.test")
    far = report.host("far.alias.test")
    assert near is not None and near.aliases == ("real.alias.test",)
    assert near.addresses == ("127.0.0.1",)
    assert far is not None and far.aliases == ("host.other.test",)
    assert far.addresses == ("127.0.0.4",)
    statuses = by_id(report)
    assert statuses[("dns.host", "xmpp.alias.test")] == "warn"
    assert statuses[("dns.host", "far.alias.test")] == "warn"


def test_target_without_addresses_and_alias_loop(server: LabDnsServer) -> None:
    report = run_discover(server, "noaddr.test", kinds=("client",))
    assert report.host("ghost.noaddr.test").status == "absent"  # type: ignore[union-attr]
    statuses = by_id(report)
    assert statuses[("dns.host", "ghost.noaddr.test")] == "fail"
    assert statuses[("dns.endpoints.client", None)] == "fail"
    loop = asyncio.run(lookup_host("a.loop.test", [server.address], timeout=TIMEOUT))
    assert loop.status == "error"
    assert any("loop" in e for e in loop.errors)


def test_ad_bit_is_reported() -> None:
    with serve_dns(RECORDS, zones=ZONES, authenticated=True) as address:
        report = asyncio.run(discover("xiot.test", resolver=address, timeout=TIMEOUT))
    assert report.authenticated
    assert {c.id: c.status for c in dns_checks(report)}["dns.dnssec"] == "ok"


def test_ad_bit_absent_is_skip(server: LabDnsServer) -> None:
    report = run_discover(server, "nosrv.test")
    assert not report.authenticated
    assert {c.id: c.status for c in dns_checks(report)}["dns.dnssec"] == "skip"


def test_truncated_udp_is_retried_over_tcp() -> None:
    lab = LabDnsServer(RECORDS, zones=ZONES, truncate_udp=True)
    with lab as address:
        lookup = asyncio.run(lookup_srv("xiot.test", "xmpp-client", [address], timeout=TIMEOUT))
    assert lookup.status == "found" and len(lookup.records) == 3
    assert {q.transport for q in lab.queries} == {"udp", "tcp"}


def test_servfail_is_an_error_not_a_fallback() -> None:
    with serve_dns(RECORDS, zones=ZONES, mode="servfail") as address:
        report = asyncio.run(discover("nosrv.test", resolver=address, timeout=TIMEOUT))
    assert {s.status for s in report.srv} == {"error"}
    assert report.fallback == () and report.endpoints == ()
    statuses = {c.id: c.status for c in dns_checks(report)}
    assert statuses["dns.srv.xmpp-client"] == "fail"
    assert statuses["dns.endpoints.client"] == "fail"


@pytest.mark.parametrize("mode", ["garbage", "wrong-id"])
def test_garbage_answers_raise_a_clear_error(mode: str) -> None:
    with serve_dns(RECORDS, zones=ZONES, mode=mode) as address:
        started = time.monotonic()
        with pytest.raises(ResolverGarbage) as info:
            asyncio.run(discover("xiot.test", resolver=address, timeout=TIMEOUT))
    assert time.monotonic() - started < TIMEOUT  # detected at once, not by a timeout
    assert isinstance(info.value, ConnectError)
    assert info.value.exit_code == 4
    assert "garbage" in info.value.one_line()


def test_silent_resolver_times_out_quickly() -> None:
    with serve_dns(RECORDS, zones=ZONES, mode="silent") as address:
        started = time.monotonic()
        with pytest.raises(ResolverUnreachable) as info:
            asyncio.run(discover("xiot.test", resolver=address, timeout=0.3))
    assert time.monotonic() - started < 2
    assert "did not answer" in info.value.message


def test_closed_port_is_unreachable() -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    with pytest.raises(ResolverUnreachable) as info:
        asyncio.run(discover("xiot.test", resolver=("127.0.0.1", port), timeout=0.5))
    assert isinstance(info.value, XiotError) and info.value.hint
    assert info.value.exit_code == 4
    # Linux reports the ICMP "port unreachable" on our connected socket: no waiting.
    assert "refused" in info.value.message or "timed out" in info.value.message


def test_malformed_domain_is_rejected_before_any_query(server: LabDnsServer) -> None:
    before = len(server.queries)
    with pytest.raises(UsageError):
        run_discover(server, "user@xiot.test")
    assert len(server.queries) == before


def test_ipv6_loopback_resolver() -> None:
    with serve_dns(RECORDS, zones=ZONES, host="::1") as address:
        report = asyncio.run(discover("nosrv.test", resolver=address, timeout=TIMEOUT))
    assert report.fallback == ("client", "server")
    assert str(report.nameservers[0]).startswith("[::1]:")


def test_second_nameserver_is_used_when_first_is_dead(server: LabDnsServer) -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        probe.bind(("127.0.0.1", 0))
        dead = ("127.0.0.1", probe.getsockname()[1])
    report = asyncio.run(discover("nosrv.test", resolver=[dead, server.address], timeout=1.0))
    assert report.fallback == ("client", "server")


# -- the lab server's answers, without sockets -------------------------------------------


def _ask(lab: LabDnsServer, name: str, rtype: str) -> dns.message.Message:
    wire = lab.respond(dns.message.make_query(name, rtype).to_wire())
    assert wire is not None
    return dns.message.from_wire(wire)


def test_lab_server_nxdomain_nodata_refused() -> None:
    lab = LabDnsServer(RECORDS, zones=ZONES)
    assert _ask(lab, "missing.xiot.test", "A").rcode() == dns.rcode.NXDOMAIN
    nodata = _ask(lab, "c.xiot.test", "AAAA")
    assert nodata.rcode() == dns.rcode.NOERROR and not nodata.answer and nodata.authority
    # Empty non-terminal: _tcp.xiot.test has children, so it exists.
    assert _ask(lab, "_tcp.xiot.test", "SRV").rcode() == dns.rcode.NOERROR
    assert _ask(lab, "example.com", "A").rcode() == dns.rcode.REFUSED
    txt = _ask(lab, "_xmppconnect.xiot.test", "TXT")
    assert "xbosh" in txt.answer[0].to_text()


def test_delayed_answers_do_not_hold_each_other_up() -> None:
    """With ``delay`` every answer comes that long after its query, and 20 queries sent
    together are answered together rather than one after another."""
    delay = 0.2
    with serve_dns(RECORDS, zones=ZONES, delay=delay) as address:
        async def many() -> list[float]:
            async def one(service: str) -> float:
                started = time.monotonic()
                found = await lookup_srv("xiot.test", service, [address], timeout=TIMEOUT)
                assert found.status == "found"
                return time.monotonic() - started

            services = ["xmpp-client", "xmpps-client", "xmpp-server", "xmpps-server"] * 5
            return await asyncio.gather(*(one(s) for s in services))

        started = time.monotonic()
        times = asyncio.run(many())
        total = time.monotonic() - started
    assert min(times) >= delay * 0.9
    assert total < delay * 3  # serialised answers would take 20 x delay


def test_delayed_answers_over_tcp() -> None:
    lab = LabDnsServer(RECORDS, zones=ZONES, truncate_udp=True, delay=0.1)
    with lab as address:
        started = time.monotonic()
        lookup = asyncio.run(lookup_srv("xiot.test", "xmpp-client", [address], timeout=TIMEOUT))
        elapsed = time.monotonic() - started
    assert lookup.status == "found" and len(lookup.records) == 3
    assert {q.transport for q in lab.queries} == {"udp", "tcp"}
    assert elapsed >= 0.18 and not lab.errors  # one delayed answer per transport


def test_delay_is_bounded() -> None:
    with pytest.raises(XiotError):
        LabDnsServer(RECORDS, delay=60)


def test_repeated_questions_get_the_same_answer_with_their_own_id() -> None:
    lab = LabDnsServer(RECORDS, zones=ZONES)
    query = dns.message.make_query("_xmpp-client._tcp.xiot.test", "SRV")
    first = dns.message.from_wire(lab.respond(query.to_wire()) or b"")
    query.id = (query.id + 1) % 65536
    again = dns.message.from_wire(lab.respond(query.to_wire()) or b"")
    assert again.id == query.id and query.is_response(again)
    assert again.answer == first.answer and len(lab.queries) == 2
    lab.mode = "refused"
    assert dns.message.from_wire(lab.respond(query.to_wire()) or b"").rcode() == dns.rcode.REFUSED
