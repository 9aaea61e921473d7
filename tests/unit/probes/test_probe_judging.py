"""The failing cases Prosody cannot be made to produce: judged from recorded stream data.

Prosody in the lab always requires TLS, offers nothing before it and never compresses, so the
opposite cases are built here from recorded features elements and fed to the same judging
code the probe uses.  Also: the monitoring renderers and the change detection of ``--watch``.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET

import pytest

from xiot.errors import UsageError
from xiot.probes.judge import (
    judge_compression,
    judge_header,
    judge_mechanisms,
    judge_pre_tls_features,
    judge_s2s,
    judge_sm_after_login,
    stream_checks,
)
from xiot.probes.render import nagios, openmetrics, table_rows
from xiot.probes.report import Check, ProbeResult
from xiot.probes.runner import GROUPS, ProbeOptions, changes, check_runnable
from xiot.probes.stream import StreamHeader, StreamProbe, parse_features, parse_stream_error
from xiot.probes.web import parse_jrd, parse_xrd
from xiot.xmpp.endpoints import Endpoint

OLD_SERVER = """<stream:features xmlns:stream='http://etherx.jabber.org/streams'>
  <starttls xmlns='urn:ietf:params:xml:ns:xmpp-tls'/>
  <mechanisms xmlns='urn:ietf:params:xml:ns:xmpp-sasl'>
    <mechanism>PLAIN</mechanism><mechanism>DIGEST-MD5</mechanism></mechanisms>
  <compression xmlns='http://jabber.org/features/compress'><method>zlib</method></compression>
  <register xmlns='http://jabber.org/features/iq-register'/>
</stream:features>"""

MODERN_SERVER = """<stream:features xmlns:stream='http://etherx.jabber.org/streams'>
  <mechanisms xmlns='urn:ietf:params:xml:ns:xmpp-sasl'>
    <mechanism>SCRAM-SHA-256-PLUS</mechanism><mechanism>SCRAM-SHA-256</mechanism></mechanisms>
  <sasl-channel-binding xmlns='urn:xmpp:sasl-cb:0'>
    <channel-binding type='tls-exporter'/><channel-binding type='tls-server-end-point'/>
  </sasl-channel-binding>
  <sm xmlns='urn:xmpp:sm:3'/>
  <dialback xmlns='urn:xmpp:features:dialback'/>
</stream:features>"""


def features(text: str):
    return parse_features(ET.fromstring(text))


def test_parse_features_names_everything() -> None:
    old = features(OLD_SERVER)
    assert old.starttls and not old.starttls_required
    assert old.mechanisms == ("PLAIN", "DIGEST-MD5")
    assert old.compression == ("zlib",)
    assert old.names == ("starttls", "sasl", "compression", "register")
    modern = features(MODERN_SERVER)
    assert modern.channel_bindings == ("tls-exporter", "tls-server-end-point")
    assert modern.has("sm") and modern.has("dialback")


def test_pre_tls_plain_fails_and_nothing_passes() -> None:
    assert judge_pre_tls_features(features(OLD_SERVER))[0] == "fail"
    assert judge_pre_tls_features(features(MODERN_SERVER))[0] == "warn"
    empty = features("<f><starttls xmlns='urn:ietf:params:xml:ns:xmpp-tls'><required/>"
                     "</starttls></f>")
    assert judge_pre_tls_features(empty)[0] == "ok"


def test_mechanisms_after_tls() -> None:
    assert judge_mechanisms(features(MODERN_SERVER), "TLSv1.3")[0] == "ok"
    assert judge_mechanisms(features(OLD_SERVER), "TLSv1.3")[0] == "warn"  # no SCRAM
    assert judge_mechanisms(features("<f/>"), "TLSv1.3")[0] == "fail"
    only_unique = features(MODERN_SERVER.replace("tls-exporter", "tls-unique").replace(
        "<channel-binding type='tls-server-end-point'/>", ""))
    assert judge_mechanisms(only_unique, "TLSv1.3")[0] == "note"  # advice, not action
    assert judge_mechanisms(only_unique, "TLSv1.2")[0] == "ok"


def test_s2s_compression_and_header() -> None:
    assert judge_s2s(features(MODERN_SERVER))[0] == "ok"
    assert judge_s2s(features(OLD_SERVER))[0] == "fail"
    assert judge_compression(features(OLD_SERVER), None)[0] == "fail"
    assert judge_compression(features(MODERN_SERVER), "zlib")[0] == "fail"
    assert judge_compression(features(MODERN_SERVER), None)[0] == "ok"
    good = StreamHeader("example.org", None, "1.0", "x", "en", None)
    assert judge_header(good, "example.org")[0] == "ok"
    assert judge_header(StreamHeader("other.org", None, None, None, None, None),
                        "example.org")[0] == "warn"


def test_stream_error_decoding() -> None:
    error = parse_stream_error(ET.fromstring(
        "<e xmlns:s='urn:ietf:params:xml:ns:xmpp-streams'><s:policy-violation/>"
        "<s:text>slow down</s:text></e>"))
    assert (error.condition, error.text) == ("policy-violation", "slow down")


def _probe(**values) -> StreamProbe:
    endpoint = Endpoint("xmpp.example.org", "127.0.0.1", 5222, False, "xmpp-client")
    header = StreamHeader("example.org", None, "1.0", "1", "en", None)
    return StreamProbe("example.org", endpoint, connect_ms=1.0, header_before=header,
                       **values)


def test_stream_checks_for_an_optional_starttls_server() -> None:
    after = features(MODERN_SERVER)
    header = StreamHeader("example.org", None, "1.0", "2", "en", None)
    found = {c.id: c.status for c in stream_checks(_probe(
        features_before=features(OLD_SERVER), header_after=header, features_after=after))}
    assert found["stream.starttls"] == "warn"
    assert found["sasl.before-tls"] == "fail"
    assert found["stream.sm"] == "ok" and found["sasl.mechanisms"] == "ok"
    no_tls = features(OLD_SERVER.replace(
        "<starttls xmlns='urn:ietf:params:xml:ns:xmpp-tls'/>", ""))
    found = {c.id: c.status for c in stream_checks(_probe(
        features_before=no_tls, error="no STARTTLS", error_phase="stream"))}
    assert found["stream.starttls"] == "fail" and "stream.features" not in found


def _result(domain: str, *statuses: str) -> ProbeResult:
    checks = tuple(Check(domain, "tls.expiry" if i == 0 else f"tls.check{i}", s, 1.5, f"m{i}",
                         "ep",
                         {"days_left": 12.5} if i == 0 else {})
                   for i, s in enumerate(statuses))
    return ProbeResult(domain, checks)


def test_nagios_codes_and_perfdata() -> None:
    assert nagios([_result("a.test", "ok", "skip")])[1] == 0
    line, code = nagios([_result("a.test", "ok", "warn")])
    assert code == 1 and line.startswith("XMPP PROBE WARNING")
    line, code = nagios([_result("a.test", "fail", "warn"), _result("b.test", "ok")])
    assert code == 2 and "a.test tls.expiry" in line
    assert "'a.test_cert_days'=12.50" in line and "'b.test_failed'=0" in line
    assert nagios([])[1] == 3


def test_openmetrics_exposition() -> None:
    text = openmetrics([_result('we"ird.test', "fail")])
    assert text.endswith("# EOF\n")
    assert 'xiot_probe_success{domain="we\\"ird.test"} 0' in text
    assert "xiot_probe_check_status{" in text and "xiot_probe_cert_days_left{" in text


def test_table_rows_group_domain_then_endpoint() -> None:
    rows = table_rows([_result("b.test", "ok"), _result("a.test", "ok", "fail")])
    assert [r["domain"] for r in rows] == ["a.test", "a.test", "b.test"]


def test_watch_changes() -> None:
    first = _result("a.test", "ok", "ok")
    assert len(changes({}, first)) == 2
    state = {(c.domain, c.id, c.endpoint): c for c in first.checks}
    assert changes(state, first) == []
    changed = changes(state, _result("a.test", "ok", "fail"))
    assert [(c.id, c.status, c.details["previous"]) for c in changed] == [
        ("tls.check1", "fail", "ok")]
    gone = changes(state, _result("a.test", "ok"))
    assert gone[0].message.startswith("no longer reported")


def test_only_and_skip_matching() -> None:
    opts = ProbeOptions(only=("tls", "dns.srv"), skip=("tls.same-cert",))
    assert opts.wants("tls.trust") and opts.wants("dns.srv.xmpp-client")
    assert not opts.wants("tls.same-cert") and not opts.wants("dns.host")
    assert opts.wants_group("tls") and not opts.wants_group("web")


def test_host_meta_parsers() -> None:
    xrd = (b"<XRD xmlns='http://docs.oasis-open.org/ns/xri/xrd-1.0'><Link rel='a' "
           b"href='b'/></XRD>")
    assert parse_xrd(xrd) == [("a", "b")]
    for bad in (b"<XRD/>", b"<x", b"<!DOCTYPE x [<!ENTITY a 'b'>]><x/>"):
        try:
            parse_xrd(bad)
        except ValueError:
            continue
        raise AssertionError(bad)
    assert parse_jrd(b'{"links": [{"rel": "a", "href": "b"}]}') == [("a", "b")]


def test_advice_is_a_note_that_never_raises_monitoring_state() -> None:
    advice = ProbeResult("a.test", (Check("a.test", "tls.expiry", "ok", 1.0, "m", "ep",
                                          {"days_left": 90.0}),
                                    Check("a.test", "sasl.mechanisms", "note", None,
                                          "no SCRAM-*-PLUS", "ep")))
    line, code = nagios([advice])
    assert code == 0 and line.startswith("XMPP PROBE OK")
    assert "1 note(s)" in line and "'a.test_notes'=1" in line
    text = openmetrics([advice])
    assert 'xiot_probe_check_status{domain="a.test",check="sasl.mechanisms",' in text
    status_line = next(line for line in text.splitlines()
                       if line.startswith("xiot_probe_check_status") and "sasl" in line)
    assert status_line.endswith(" 1")  # counted as ok: '> 1' alert rules stay quiet
    assert 'xiot_probe_notes{domain="a.test"} 1' in text
    assert not advice.failed and advice.worst_status == "note"


def test_hardening_advice_is_note_and_sm_before_login_is_not_judged() -> None:
    no_plus = features(MODERN_SERVER.replace("<mechanism>SCRAM-SHA-256-PLUS</mechanism>", ""))
    assert judge_mechanisms(no_plus, "TLSv1.3")[0] == "note"
    header = StreamHeader("example.org", None, "1.0", "2", "en", None)
    no_sm = features(MODERN_SERVER.replace("<sm xmlns='urn:xmpp:sm:3'/>", ""))
    found = {c.id: c.status for c in stream_checks(_probe(
        features_before=features("<f><starttls xmlns='urn:ietf:params:xml:ns:xmpp-tls'>"
                                 "<required/></starttls></f>"),
        header_after=header, features_after=no_sm))}
    assert "stream.sm" not in found  # judged after login, or reported as not checked
    assert "warn" not in found.values() and "fail" not in found.values()
    assert judge_sm_after_login(["bind", "sm"])[0] == "ok"
    assert judge_sm_after_login(["bind"])[0] == "note"


def test_selections_that_cannot_run_are_usage_errors() -> None:
    from xiot.config import GlobalOptions, resolve

    for bad in (ProbeOptions(only=("login",)), ProbeOptions(only=("login.ping", "dns")),
                ProbeOptions(only=("s2s",), kinds=("client",)),
                ProbeOptions(skip=GROUPS)):
        with pytest.raises(UsageError):
            check_runnable(bad)
    settings = resolve(GlobalOptions(), jid_check=None)
    for good in (ProbeOptions(), ProbeOptions(only=("login",), login=settings),
                 ProbeOptions(only=("stream.sm",)), ProbeOptions(skip=("login",))):
        check_runnable(good)


def test_each_domain_is_validated_once(monkeypatch) -> None:
    import asyncio

    from xiot.probes import runner
    from xiot.xmpp import dns

    seen: list[str] = []
    real = dns.validate_domain

    def counting(text: str) -> str:
        seen.append(text)
        return real(text)

    async def no_srv(domain: str, service: str, *args, **kwargs):  # type: ignore[no-untyped-def]
        return dns.SrvLookup(service, f"_{service}._tcp.{domain}", "absent")

    async def no_host(host: str, *args, **kwargs):  # type: ignore[no-untyped-def]
        return dns.HostLookup(host, "absent")

    monkeypatch.setattr(dns, "validate_domain", counting)
    monkeypatch.setattr(runner, "validate_domain", counting)
    monkeypatch.setattr(dns, "lookup_srv", no_srv)  # no query leaves a unit test
    monkeypatch.setattr(dns, "lookup_host", no_host)

    async def run() -> list[str]:
        options = ProbeOptions(resolver=("127.0.0.1", 9), only=("dns",))
        return [result.domain async for result in runner.probe_many(["a.test", "B.test"],
                                                                    options)]

    assert sorted(asyncio.run(run())) == ["a.test", "b.test"]
    assert sorted(seen) == ["B.test", "a.test"]  # once each, not once per layer
