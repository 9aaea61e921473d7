"""Probe checks against real Prosody servers on loopback, found through a test DNS server.

One probe run covers every test domain (they are probed in parallel, as users run it); the
tests then read the checks they are about.  Each check id gets a passing and a failing case
here or, where Prosody cannot be made to misbehave that way, in tests/unit/probes.
"""

from __future__ import annotations

import asyncio
from dataclasses import replace

import pytest

from tests.helpers import lab_settings
from tests.probe_world import World
from xiot.errors import ConnectError, UsageError
from xiot.lab.dns import serve_dns
from xiot.probes.report import Check, ProbeResult
from xiot.probes.runner import ProbeOptions, probe_many, watch
from xiot.xmpp.dns import parse_resolver

pytestmark = pytest.mark.integration

DOMAINS = ("xiot.test", "expired.test", "selfsigned.test", "wrongname.test", "xaddr.test",
           "closed.test", "disabled.test", "alias.test", "cname.test", "web.test",
           "plainport.test")


def options(world: World, **changes) -> ProbeOptions:
    base = ProbeOptions(resolver=parse_resolver(world.resolver), timeout=3.0, ca=world.ca,
                        web_base=world.web_base)
    return replace(base, **changes)


def run(domains, opts: ProbeOptions) -> dict[str, ProbeResult]:
    async def collect() -> list[ProbeResult]:
        return [result async for result in probe_many(domains, opts)]

    return {result.domain: result for result in asyncio.run(collect())}


@pytest.fixture(scope="module")
def results(probe_world: World) -> dict[str, ProbeResult]:
    return run(DOMAINS, options(probe_world))


def checks(result: ProbeResult, check_id: str) -> list[Check]:
    found = [check for check in result.checks if check.id == check_id]
    assert found, f"no {check_id} for {result.domain}: {[c.id for c in result.checks]}"
    return found


def statuses(result: ProbeResult, check_id: str) -> set[str]:
    return {check.status for check in checks(result, check_id)}


def test_valid_domain_passes_every_endpoint_check(results) -> None:
    valid = results["xiot.test"]
    assert not valid.failed, [c for c in valid.checks if c.status == "fail"]
    for check_id in ("tcp.connect", "stream.open", "stream.starttls", "sasl.before-tls",
                     "stream.features", "stream.compression", "tls.trust",
                     "tls.identity", "tls.expiry", "tls.same-cert", "s2s.auth",
                     "web.host-meta", "web.host-meta-json", "web.bosh", "web.websocket"):
        assert statuses(valid, check_id) == {"ok"}, [c.message for c in checks(valid, check_id)]
    # Prosody 0.12 negotiates no ALPN on direct TLS: advice (note) there, ok elsewhere.
    assert {(c.endpoint.endswith("/directtls"), c.status)
            for c in checks(valid, "tls.handshake")} == {(False, "ok"), (True, "note")}
    assert not {c.status for c in valid.checks} & {"warn", "fail"}, [
        (c.id, c.message) for c in valid.checks if c.status in ("warn", "fail")]
    endpoints = {c.endpoint for c in checks(valid, "tcp.connect")}
    assert len(endpoints) == 3  # c2s STARTTLS, c2s direct TLS, s2s
    handshake = checks(valid, "tls.handshake")[0]
    assert handshake.details["version"] in ("TLSv1.2", "TLSv1.3")
    assert handshake.details["sni"] == "xiot.test"
    direct = [c for c in checks(valid, "tls.handshake") if c.endpoint.endswith("/directtls")]
    assert direct[0].details["alpn_offered"] == ["xmpp-client"]


def test_stream_facts_from_prosody(results) -> None:
    valid = results["xiot.test"]
    opened = checks(valid, "stream.open")[0]
    assert opened.details["from"] == "xiot.test" and opened.details["version"] == "1.0"
    mechanisms = checks(valid, "sasl.mechanisms")[0]
    assert "SCRAM-SHA-1" in mechanisms.details["mechanisms"]
    # Prosody 0.12 over TLS 1.3 offers no SCRAM-*-PLUS: hardening advice, not a warning.
    assert mechanisms.status == "note" and "SCRAM-*-PLUS" in mechanisms.message
    s2s = checks(valid, "s2s.auth")[0]
    assert s2s.details["dialback"] is True
    before = checks(valid, "sasl.before-tls")[0]
    assert before.details["mechanisms"] == []


def test_closed_port_fails_tcp_connect(results) -> None:
    closed = checks(results["closed.test"], "tcp.connect")
    assert [c.status for c in closed] == ["fail"]
    assert "refused" in closed[0].message
    assert results["closed.test"].failed


def test_stream_error_is_decoded(results) -> None:
    opened = checks(results["alias.test"], "stream.open")[0]
    assert opened.status == "fail"
    assert opened.details["condition"] == "host-unknown"


def test_cname_target_is_flagged(results) -> None:
    hosts = [c for c in checks(results["cname.test"], "dns.host")
             if c.endpoint == "srv.cname.test"]
    assert hosts[0].status == "warn" and "alias" in hosts[0].message


def test_domain_whose_every_srv_record_is_dot_fails(results) -> None:
    disabled = results["disabled.test"]  # client and server '.', nothing else
    assert statuses(disabled, "dns.srv.xmpp-client") == {"ok"}
    assert statuses(disabled, "dns.endpoints.client") == {"fail"}
    assert statuses(disabled, "dns.endpoints.server") == {"fail"}
    assert disabled.failed
    assert not [c for c in disabled.checks if c.id == "tcp.connect"]


def test_expired_certificate(results) -> None:
    expired = results["expired.test"]
    assert statuses(expired, "tls.expiry") == {"fail"}
    assert statuses(expired, "tls.trust") == {"fail"}
    assert statuses(expired, "tls.identity") == {"ok"}


def test_self_signed_certificate_is_untrusted(results) -> None:
    assert statuses(results["selfsigned.test"], "tls.trust") == {"fail"}


def test_wrong_name_fails_identity_but_not_trust(results) -> None:
    wrong = results["wrongname.test"]
    assert statuses(wrong, "tls.identity") == {"fail"}
    assert statuses(wrong, "tls.trust") == {"ok"}
    assert "other.test" in checks(wrong, "tls.identity")[0].message


def test_xmppaddr_and_srvname_only_certificate_is_accepted(results) -> None:
    xaddr = results["xaddr.test"]
    identity = checks(xaddr, "tls.identity")
    assert {c.status for c in identity} == {"ok"}
    assert {c.details["id_type"] for c in identity} <= {"SRV-ID", "XmppAddr"}
    assert statuses(xaddr, "tls.trust") == {"ok"}


def test_direct_tls_on_a_starttls_port_fails_the_handshake(results) -> None:
    handshake = checks(results["plainport.test"], "tls.handshake")
    assert [c.status for c in handshake] == ["fail"]
    assert statuses(results["plainport.test"], "tcp.connect") == {"ok"}


def test_broken_host_meta_and_dead_http_endpoints(results) -> None:
    web = results["web.test"]
    assert statuses(web, "web.host-meta") == {"fail"}  # malformed XRD
    assert statuses(web, "web.host-meta-json") == {"warn"}  # no CORS header
    assert statuses(web, "web.bosh") == {"fail"}
    assert statuses(web, "web.websocket") == {"fail"}
    assert statuses(results["expired.test"], "web.host-meta") == {"skip"}  # not published


def test_warn_and_crit_days(probe_world: World) -> None:
    warn = run(["xiot.test"], options(probe_world, warn_days=400, only=("tls.expiry",)))
    assert statuses(warn["xiot.test"], "tls.expiry") == {"warn"}
    crit = run(["xiot.test"], options(probe_world, warn_days=400, crit_days=400,
                                      only=("tls.expiry",)))
    assert statuses(crit["xiot.test"], "tls.expiry") == {"fail"}


def test_only_and_skip_select_checks_and_phases(probe_world: World) -> None:
    only_dns = run(["xiot.test"], options(probe_world, only=("dns",)))["xiot.test"]
    assert {c.id.split(".")[0] for c in only_dns.checks} == {"dns"}
    no_web = run(["xiot.test"], options(probe_world, skip=("web", "tls.same-cert")))
    ids = {c.id for c in no_web["xiot.test"].checks}
    assert "tls.trust" in ids and "tls.same-cert" not in ids
    assert not any(i.startswith("web.") for i in ids)


def test_login_auth_bind_ping(probe_world: World, lab) -> None:
    settings = lab_settings("testlab", timeout=5.0)
    good = run(["xiot.test"], options(probe_world, login=settings, only=("login",)))
    assert [(c.id, c.status) for c in good["xiot.test"].checks] == [
        ("login.auth", "ok"), ("login.bind", "ok"), ("login.ping", "ok")]
    bad = run(["xiot.test"], options(probe_world, only=("login",),
                                     login=replace(settings, port=probe_world.closed_port)))
    assert [(c.id, c.status) for c in bad["xiot.test"].checks] == [("login.auth", "fail")]
    other = run(["expired.test"], options(probe_world, login=settings, only=("login",)))
    assert statuses(other["expired.test"], "login.auth") == {"skip"}


def test_login_asks_the_probe_resolver(probe_world: World, lab, monkeypatch) -> None:
    """No ``--server``: the login finds xiot.test's endpoints through ``--resolver``, and a
    server host name is resolved there too; the system resolver is never asked."""
    import slixmpp.xmlstream.xmlstream as stream_module

    from xiot.xmpp import dns

    def no_system_resolver() -> None:
        raise AssertionError("the system resolver was asked")

    real_resolve = stream_module.resolve

    def addresses_only(host, *args, **kwargs):  # type: ignore[no-untyped-def]
        assert host.replace(".", "").isdigit(), f"slixmpp would look up {host}"
        return real_resolve(host, *args, **kwargs)

    monkeypatch.setattr(dns, "system_nameservers", no_system_resolver)
    monkeypatch.setattr(stream_module, "resolve", addresses_only)
    settings = lab_settings("testlab", timeout=5.0)
    by_srv = run(["xiot.test"], options(probe_world, login=replace(settings, host=None,
                                                                  port=None), only=("login",)))
    assert [(c.id, c.status) for c in by_srv["xiot.test"].checks] == [
        ("login.auth", "ok"), ("login.bind", "ok"), ("login.ping", "ok")], by_srv
    by_name = run(["xiot.test"], options(probe_world, login=replace(
        settings, host="xmpp.xiot.test"), only=("login.auth",)))
    assert statuses(by_name["xiot.test"], "login.auth") == {"ok"}


def test_stream_management_is_judged_only_after_login(probe_world: World, lab) -> None:
    without = run(["xiot.test"], options(probe_world, only=("stream.sm",)))["xiot.test"]
    sm = checks(without, "stream.sm")
    assert [(c.status, c.endpoint) for c in sm] == [("skip", None)]
    assert "--login" in sm[0].message
    settings = lab_settings("testlab", timeout=5.0)
    logged_in = run(["xiot.test"], options(probe_world, login=settings,
                                           only=("stream.sm",)))["xiot.test"]
    sm = checks(logged_in, "stream.sm")
    # The lab's Prosody runs without mod_smacks: advice after login, never a warning.
    assert [c.status for c in sm] == ["note"] and sm[0].endpoint
    assert "bind" in sm[0].details["features"]  # the post-authentication features


def test_chain_failures_say_what_is_wrong(results) -> None:
    selfsigned = checks(results["selfsigned.test"], "tls.trust")[0]
    assert "self-signed" in selfsigned.message and "candidates" not in selfsigned.message
    assert selfsigned.details["reason"] == "self-signed"
    expired = checks(results["expired.test"], "tls.trust")[0]
    assert expired.details["reason"] == "expired" and "expired on" in expired.message


def test_watch_reports_only_changes(probe_world: World) -> None:
    async def collect():
        return [(n, changed) async for n, _, changed in watch(
            ["xiot.test"], options(probe_world, only=("dns", "tcp")), 0.05, rounds=2)]

    rounds = asyncio.run(collect())
    assert [n for n, _ in rounds] == [1, 2]
    assert rounds[0][1] and not rounds[1][1]


def test_malformed_domain_is_a_usage_error(probe_world: World) -> None:
    with pytest.raises(UsageError):
        run(["bad domain!"], options(probe_world))


@pytest.mark.parametrize("mode", ["garbage", "silent"])
def test_broken_resolver_is_a_connect_error(probe_world: World, mode: str) -> None:
    with serve_dns([], zones=["test"], mode=mode) as (host, port):
        opts = options(probe_world, resolver=(host, port), timeout=0.5)
        with pytest.raises(ConnectError):
            run(["xiot.test"], opts)
