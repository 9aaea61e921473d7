"""``--tls none``: allowed only to a named loopback server, refused before any look-up or
connection everywhere else, and checked again on the address just before connecting.

No test here connects anywhere: the refusals are checked on settings and endpoints, and the
one Session attempt has slixmpp's connect replaced by a tripwire.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import replace

import pytest

from xiot.config import GlobalOptions, resolve
from xiot.config.settings import is_loopback_host
from xiot.errors import ConfigError, UsageError
from xiot.xmpp import endpoints
from xiot.xmpp.endpoints import Endpoint, refuse_unless_loopback, unencrypted_endpoints


@pytest.fixture()
def empty_config(tmp_path):
    path = tmp_path / "config.yaml"
    path.write_text("profiles: {}\n")
    return path


def settings(config, **flags):
    return resolve(GlobalOptions(config=config, jid="romeo@localhost", **flags))


@pytest.mark.parametrize("server", ["127.0.0.1:5222", "127.8.9.10:6000", "[::1]:5222", "::1",
                                    "localhost", "localhost:5222", "LOCALHOST"])
def test_loopback_servers_are_allowed(empty_config, server):
    resolved = settings(empty_config, tls="none", server=server)
    assert resolved.tls == "none"


def test_without_a_server_it_is_refused_before_any_lookup(empty_config):
    with pytest.raises(UsageError) as info:
        settings(empty_config, tls="none")
    assert info.value.exit_code == 2
    assert info.value.message == "--tls none needs --server 127.0.0.1:PORT (loopback only)"
    assert "plaintext" in info.value.hint


@pytest.mark.parametrize("server", ["example.org", "example.org:5222", "10.0.0.1:5222",
                                    "192.168.1.20", "[2001:db8::1]:5222", "localhost.example.org",
                                    "128.0.0.1", "0.0.0.0"])
def test_a_non_loopback_server_is_refused(empty_config, server):
    with pytest.raises(UsageError) as info:
        settings(empty_config, tls="none", server=server)
    assert info.value.exit_code == 2
    assert "is allowed to a loopback server only, not" in info.value.message


def test_from_the_environment_or_a_profile_it_is_a_config_error(tmp_path, monkeypatch):
    config = tmp_path / "c.yaml"
    config.write_text("profiles:\n  far:\n    jid: a@example.org\n    server: example.org\n"
                      "    tls: none\n  near:\n    jid: a@localhost\n"
                      "    server: 127.0.0.1:5222\n    tls: none\n")
    with pytest.raises(ConfigError) as info:
        resolve(GlobalOptions(config=config, profile="far"))
    assert info.value.exit_code == 3
    assert info.value.message.startswith("tls: none (profile 'far') is allowed to a loopback")
    assert resolve(GlobalOptions(config=config, profile="near")).tls == "none"
    # a non-loopback --server on the command line makes it a usage error again
    with pytest.raises(UsageError):
        resolve(GlobalOptions(config=config, profile="near", server="10.1.1.1"))
    monkeypatch.setenv("XIOT_TLS", "none")
    with pytest.raises(ConfigError) as info:
        resolve(GlobalOptions(config=config, jid="a@localhost"))
    assert info.value.message == "XIOT_TLS=none needs --server 127.0.0.1:PORT (loopback only)"


def test_other_modes_are_unchanged(empty_config):
    for mode in ("auto", "starttls", "direct"):
        assert settings(empty_config, tls=mode, server="example.org").tls == mode
    with pytest.raises(UsageError) as info:
        settings(empty_config, tls="sometimes")
    assert "none" in info.value.hint


@pytest.mark.parametrize(("host", "expected"), [
    ("127.0.0.1", True), ("127.255.0.3", True), ("::1", True), ("[::1]", True),
    ("localhost", True), ("localhost.", True), ("example.org", False), ("10.0.0.1", False),
    ("::2", False), ("local", False), ("", False)])
def test_is_loopback_host(host, expected):
    assert is_loopback_host(host) is expected


def test_localhost_becomes_its_loopback_addresses_without_a_lookup(empty_config):
    planned = unencrypted_endpoints(settings(empty_config, tls="none", server="localhost"))
    assert [(e.address, e.port, e.plain, e.direct_tls) for e in planned] == [
        ("127.0.0.1", 5222, True, False), ("::1", 5222, True, False)]
    assert str(planned[1]) == "[::1]:5222 (no TLS)"
    assert planned[0].label == "localhost[127.0.0.1]:5222/plain"


def test_settings_built_by_hand_are_checked_again(empty_config):
    """A caller that replaces the host (a scansion character's connect_host) still cannot
    reach a non-loopback address, and no DNS is asked."""
    loopback = settings(empty_config, tls="none", server="127.0.0.1:5222")
    from xiot.xmpp.session import plan_endpoints

    for host in (None, "example.org", "10.0.0.1"):
        with pytest.raises(UsageError):
            asyncio.run(plan_endpoints(replace(loopback, host=host), "localhost"))


@pytest.mark.parametrize("address", ["10.0.0.1", "example.org", "localhost", "2001:db8::1"])
def test_the_last_check_takes_loopback_address_literals_only(address):
    with pytest.raises(UsageError) as info:
        refuse_unless_loopback(Endpoint.unencrypted("h", address, 5222))
    assert "refusing to connect" in info.value.message
    refuse_unless_loopback(Endpoint.unencrypted("h", "127.0.0.1", 5222))
    refuse_unless_loopback(Endpoint.unencrypted("h", "::1", 5222))


def test_a_session_never_contacts_a_non_loopback_plain_endpoint(empty_config, monkeypatch):
    import slixmpp

    from xiot.xmpp.session import Session

    def tripwire(*args, **kwargs):
        raise AssertionError("connect() was called")

    monkeypatch.setattr(slixmpp.ClientXMPP, "connect", tripwire)
    session = Session(settings(empty_config, tls="none", server="127.0.0.1:5222"),
                      password="pw")
    with pytest.raises(UsageError):
        asyncio.run(session._attempt(Endpoint.unencrypted("x", "10.9.9.9", 5222), "pw", 1.0))


def test_the_warning_is_loud_and_said_once_per_server(caplog):
    endpoints._WARNED_UNENCRYPTED.clear()
    with caplog.at_level(logging.WARNING, logger="xiot"):
        for _ in range(3):
            endpoints.warn_unencrypted(Endpoint.unencrypted("h", "127.0.0.1", 5222))
        endpoints.warn_unencrypted(Endpoint.unencrypted("h", "::1", 5222))
    messages = [r.getMessage() for r in caplog.records]
    assert messages == [
        "WARNING: --tls none: the stream to 127.0.0.1:5222 is NOT encrypted and the password "
        "crosses it in plaintext; allowed for loopback test servers only",
        "WARNING: --tls none: the stream to [::1]:5222 is NOT encrypted and the password "
        "crosses it in plaintext; allowed for loopback test servers only"]
