"""``--login``: log in with the profile's account and judge what only a logged-in client sees.

Authentication time, resource binding and a XEP-0199 ping, and stream management (XEP-0198):
servers offer it only in the stream features after authentication (Prosody and ejabberd both
do), so the unauthenticated probe of an endpoint cannot judge it.  slixmpp does not keep the
features it negotiated, so a tiny plugin records the names of the last features element the
server sent; after the session has started that is the post-authentication one.

The login uses the probe's nameservers (``--resolver``) for its SRV look-ups and, when the
profile names a server by host name, for that name too: every look-up of a probe run goes to
the resolver the user named.
"""

from __future__ import annotations

import ipaddress
import time
from collections.abc import Sequence
from dataclasses import replace
from typing import TYPE_CHECKING, Any

from xiot.probes.judge import judge_sm_after_login
from xiot.probes.report import Check
from xiot.probes.stream import FEATURE_NAMES

if TYPE_CHECKING:
    from xiot.config import Settings
    from xiot.xmpp.dns import Nameserver

FEATURES_PLUGIN = "xiot_probe_features"
_STREAM_NS = "http://etherx.jabber.org/streams"


def _register_plugin() -> str:
    """Make the features-recording plugin known to slixmpp (once per process)."""
    from slixmpp.plugins.base import PLUGIN_REGISTRY, BasePlugin, register_plugin
    from slixmpp.xmlstream.handler import Callback
    from slixmpp.xmlstream.matcher import MatchXPath

    if FEATURES_PLUGIN in PLUGIN_REGISTRY:
        return FEATURES_PLUGIN

    class RecordFeatures(BasePlugin):  # type: ignore[misc]
        """Keeps the friendly names of the last ``<stream:features/>`` received."""

        name = FEATURES_PLUGIN
        description = "xiot probe: record stream features"
        dependencies: set[str] = set()  # noqa: RUF012 - slixmpp's own attribute

        def plugin_init(self) -> None:
            self.names: tuple[str, ...] = ()
            self.xmpp.register_handler(Callback(
                "xiot probe features", MatchXPath(f"{{{_STREAM_NS}}}features"), self._seen))

        def _seen(self, stanza: Any) -> None:
            self.names = tuple(FEATURE_NAMES.get(child.tag, child.tag) for child in stanza.xml)

    register_plugin(RecordFeatures)
    return FEATURES_PLUGIN


async def _server_address(settings: Settings, nameservers: Sequence[Nameserver],
                          timeout: float) -> Settings:
    """``settings`` with a server host name replaced by its address from our nameservers."""
    host = settings.host
    if not host:
        return settings
    try:
        ipaddress.ip_address(host)
        return settings
    except ValueError:
        pass
    from xiot.errors import ConnectError
    from xiot.xmpp.dns import lookup_host

    found = await lookup_host(host, nameservers, timeout=timeout)
    if not found.addresses:
        why = "; ".join(found.errors) or "no A or AAAA records"
        raise ConnectError(f"the server {host} has no address ({why})")
    return replace(settings, host=found.addresses[0])


async def login_checks(domain: str, settings: Settings,
                       nameservers: Sequence[Nameserver] | None = None) -> tuple[Check, ...]:
    """``login.auth``, ``login.bind``, ``login.ping`` and ``stream.sm`` with the profile's
    account; ``nameservers`` (the probe's) answer every look-up the login makes.

    Only the domain of the profile's JID is logged in to; other domains get one ``skip``.
    """
    from xiot.errors import XiotError
    from xiot.xmpp.jid import parse_jid
    from xiot.xmpp.ping import ping_once
    from xiot.xmpp.session import DEFAULT_PLUGINS, Session

    jid = parse_jid(settings.jid) if settings.jid else None
    if jid is None or jid.domain != domain:
        return (Check(domain, "login.auth", "skip", None,
                      f"the profile's JID ({settings.jid or 'none'}) is not on {domain}"),)
    plugin = _register_plugin()
    started = time.perf_counter()
    session: Session | None = None
    try:
        if nameservers is not None:
            settings = await _server_address(settings, nameservers, settings.timeout)
        session = Session(settings, plugins=(*DEFAULT_PLUGINS, plugin),
                          resolver=tuple(nameservers) if nameservers is not None else None)
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
        names = xmpp.plugin[plugin].names
        status, message = judge_sm_after_login(names)
        checks.append(Check(domain, "stream.sm", status, None, message, endpoint,
                            {"features": list(names), "after": "login"}))
        return tuple(checks)
    finally:
        await session.close()  # type: ignore[union-attr]
