"""Session against the real lab server: TLS modes, verification, auth, bounded waits."""

from __future__ import annotations

import asyncio
import socket
import ssl
from dataclasses import replace

import pytest

from tests.conftest import LAB_NAME
from tests.helpers import lab_settings
from xiot.errors import AuthError, ConnectError, Timeout, TLSError
from xiot.xmpp.session import Session


def run(coro):
    return asyncio.run(coro)


async def _bound_jid(settings, password=None) -> tuple[str, str]:
    async with Session(settings, password=password) as session:
        return str(session.client.boundjid), str(session.endpoint)


def test_starttls_session_binds_a_resource(lab):
    jid, endpoint = run(_bound_jid(lab_settings(LAB_NAME)))
    assert jid.startswith("admin@xiot.test/")
    assert "STARTTLS" in endpoint


def test_direct_tls_session(lab):
    settings = lab_settings(LAB_NAME, port=lab.ports["c2s_direct"], tls="direct")
    jid, endpoint = run(_bound_jid(settings))
    assert jid.startswith("admin@xiot.test/")
    assert "direct TLS" in endpoint


def test_device_account_logs_in(lab, lab_accounts):
    device = lab_accounts["dev0001"]
    settings = lab_settings(LAB_NAME).with_jid(device.jid)
    jid, _ = run(_bound_jid(settings, password=device.password))
    assert jid.startswith("dev0001@xiot.test/")


def test_wrong_password_is_auth_error(lab):
    with pytest.raises(AuthError):
        run(_bound_jid(lab_settings(LAB_NAME), password="not-the-password"))


def test_untrusted_certificate_is_tls_error(lab):
    settings = lab_settings(LAB_NAME, ca=None)
    with pytest.raises(TLSError) as info:
        run(_bound_jid(settings))
    assert "certificate" in info.value.message


def test_wrong_tls_mode_is_connect_error(lab):
    settings = lab_settings(LAB_NAME, tls="direct")  # direct TLS against the STARTTLS port
    with pytest.raises(ConnectError):
        run(_bound_jid(settings))


def test_insecure_skips_verification_but_still_uses_tls(lab, caplog):
    settings = lab_settings(LAB_NAME, ca=None, insecure=True)

    async def cipher():
        async with Session(settings) as session:
            return session.client.socket.cipher()

    assert run(cipher()) is not None
    assert any("NOT verified" in r.getMessage() for r in caplog.records)


def test_closed_port_fails_fast(lab):
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    settings = lab_settings(LAB_NAME, port=port, timeout=5)
    with pytest.raises(ConnectError) as info:
        run(_bound_jid(settings))
    assert not isinstance(info.value, TLSError)


def test_silent_server_times_out(lab):
    with socket.socket() as silent:
        silent.bind(("127.0.0.1", 0))
        silent.listen()
        settings = lab_settings(LAB_NAME, port=silent.getsockname()[1], timeout=1.0)
        with pytest.raises(Timeout):
            run(_bound_jid(settings))


def test_session_closes_its_transport(lab):
    async def scenario():
        session = Session(lab_settings(LAB_NAME))
        await session.open()
        xmpp = session.client
        await session.close()
        await asyncio.sleep(0.1)
        return xmpp.transport is None or xmpp.transport.is_closing()

    assert run(scenario())


def test_ssl_context_refuses_old_tls(lab):
    from xiot.xmpp.session import build_ssl_context

    ctx = build_ssl_context(replace(lab_settings(LAB_NAME)))
    assert ctx.minimum_version >= ssl.TLSVersion.TLSv1_2
    assert ctx.verify_mode == ssl.CERT_REQUIRED


def test_endpoints_come_from_srv_in_xep0368_order_and_session_follows_them(lab):
    from xiot.lab.dns import LabDnsServer, Record
    from xiot.lab.dnsd import records_for
    from xiot.xmpp.session import plan_endpoints

    server = LabDnsServer([Record(*row) for row in records_for("xiot.test", "127.0.0.1",
                                                              lab.ports)])
    resolver = server.start()
    try:
        settings = lab_settings(LAB_NAME, host=None, port=None, tls="auto")
        both = run(plan_endpoints(settings, "xiot.test", resolver))
        assert {(e.address, e.port, e.direct_tls) for e in both} == {
            ("127.0.0.1", lab.ports["c2s"], False), ("127.0.0.1", lab.ports["c2s_direct"], True)}
        direct = run(plan_endpoints(replace(settings, tls="direct"), "xiot.test", resolver))
        assert [(e.port, e.direct_tls) for e in direct] == [(lab.ports["c2s_direct"], True)]
        with pytest.raises(ConnectError):
            run(plan_endpoints(settings, "nothing.xiot.test", resolver))
    finally:
        server.stop()
