"""One authenticated XMPP client stream, with every wait bounded.

``Session`` wraps ``slixmpp.ClientXMPP`` for command-line use, where slixmpp's defaults are
wrong: it retries a failed connection forever, tries direct TLS and STARTTLS against the same
port, and reports failures as events rather than exceptions.  Here the connection plan is
decided up front (``--server`` or SRV records), each endpoint gets exactly one attempt, and the
first decisive event becomes either a ready session or the matching ``XiotError``.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
import ssl
import time
from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING, Any, TypeVar

from xiot.config import Settings, fetch_password
from xiot.errors import AuthError, ConfigError, ConnectError, Timeout, TLSError, XiotError
from xiot.xmpp.endpoints import (
    Endpoint,
    refuse_unless_loopback,
    unencrypted_endpoints,
    warn_unencrypted,
)
from xiot.xmpp.jid import parse_jid

if TYPE_CHECKING:
    import slixmpp

log = logging.getLogger("xiot")

S = TypeVar("S")


class ConnectionLost(ConnectError):
    """The stream ended after set-up: the server went away or closed it (exit 4)."""

DEFAULT_PLUGINS = ("xep_0030", "xep_0199")


def _fast_scram_hi(self: Any, text: str | bytes, salt: bytes, iterations: int) -> bytes:
    """PBKDF2 in C instead of slixmpp's pure-Python loop: the same bytes, ~50x faster.

    SCRAM's Hi() is PBKDF2 with HMAC of the mechanism's hash and one output block; slixmpp
    computes it with a Python loop, which costs tens of milliseconds per login and seconds
    when a simulator logs in a thousand devices.
    """
    secret = text.encode("utf-8") if isinstance(text, str) else bytes(text)
    digest = self.hash()
    return hashlib.pbkdf2_hmac(digest.name, secret, salt, iterations, dklen=digest.digest_size)


def _patch_scram() -> None:
    from slixmpp.util.sasl import mechanisms

    scram = getattr(mechanisms, "SCRAM", None)
    if scram is not None and getattr(scram, "Hi", None) is not _fast_scram_hi:
        scram.Hi = _fast_scram_hi


def build_ssl_context(settings: Settings) -> ssl.SSLContext:
    """Verification on by default; ``--insecure`` turns it off and says so on stderr."""
    try:
        ctx = ssl.create_default_context(cafile=str(settings.ca) if settings.ca else None)
    except ssl.SSLError as exc:
        raise ConfigError(
            f"CA file {settings.ca} could not be loaded ({exc.reason or exc})",
            "Give a PEM file of CA certificates to --ca",
        ) from None
    ctx.minimum_version = ssl.TLSVersion.TLSv1_2
    if settings.insecure:
        log.warning(
            "WARNING: --insecure: the server's TLS certificate is NOT verified; anyone on the "
            "path can read and change this session"
        )
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
    return ctx


async def plan_endpoints(
    settings: Settings, domain: str,
    resolver: tuple[str, int] | Sequence[tuple[str, int]] | None = None,
) -> list[Endpoint]:
    """Where to connect: ``--server`` as given, else what DNS says (RFC 6120, XEP-0368).

    The DNS part is the probe's own discovery (RFC 2782 order, ``.`` targets, the A/AAAA
    fallback), so a session connects where ``xiot probe`` looks.  ``resolver`` (one or more
    ``(ip, port)``) replaces the system's nameservers: ``xiot probe --login --resolver``.
    """
    if settings.tls == "none":
        return unencrypted_endpoints(settings)
    if settings.host:
        direct = settings.tls == "direct" or (settings.tls == "auto" and settings.port == 5223)
        port = settings.port or (5223 if direct else 5222)
        return [Endpoint.configured(settings.host, port, direct)]
    from xiot.xmpp.dns import discover

    report = await discover(domain, resolver=resolver, timeout=settings.timeout,
                            kinds=("client",))
    planned = []
    for found in report.endpoints_for("client"):
        if found.fallback and settings.tls == "direct":  # no SRV: try the XEP-0368 port
            planned.append(Endpoint(found.host, found.address, 5223, True, "xmpps-client",
                                    fallback=True))
        elif settings.tls == "auto" or found.direct_tls == (settings.tls == "direct"):
            planned.append(found)
    if not planned:
        mode = "" if settings.tls == "auto" else f"{settings.tls} "
        raise ConnectError(f"DNS gives no {mode}client endpoint for {domain}",
                           "Check its SRV records (xiot probe), or give --server host:port")
    return planned


class Session:
    """An authenticated, bound client stream; use as ``async with Session(settings) as s``.

    The Session owns everything that lives exactly as long as one connection: the presence
    the server pushed, outstanding IoT requests, caches of what peers said.  Protocol code
    keeps such state in an object created by ``session.state(Kind)``, never on the slixmpp
    client.  When the stream drops after set-up, ``lost`` is set, every state object that
    defines ``connection_lost(error)`` is told, and ``guard()`` raises ``ConnectionLost`` in
    whatever was waiting, so no wait outlives the connection it waits on.
    """

    def __init__(
        self,
        settings: Settings,
        plugins: Iterable[str] = DEFAULT_PLUGINS,
        password: str | None = None,
        send_presence: bool = False,
        ssl_context: ssl.SSLContext | None = None,
        resolver: tuple[str, int] | Sequence[tuple[str, int]] | None = None,
    ) -> None:
        if not settings.jid:
            raise ConfigError(
                "no JID to log in with",
                "Pass --jid, set XIOT_JID, or use a profile ('xiot lab up' then --profile lab)",
            )
        self.settings = settings
        self.jid = parse_jid(settings.jid)
        self.plugins = tuple(plugins)
        self._password = password
        self._send_presence = send_presence
        self._ssl_context = ssl_context
        #: Nameservers for the SRV look-ups of ``open()`` (``None``: the system's).
        self._resolver = resolver
        self.xmpp: slixmpp.ClientXMPP | None = None
        self.endpoint: Endpoint | None = None
        self.connect_ms: float | None = None
        #: Set (with the error) when the stream ends after set-up.
        self.lost: ConnectionLost | None = None
        self._lost_waiter: asyncio.Future[None] | None = None
        self._states: dict[type, Any] = {}
        self._closing = False

    @classmethod
    def over(cls, client: slixmpp.ClientXMPP, settings: Settings | None = None) -> Session:
        """A Session around a stream that is already set up (a test peer, a replay actor).

        It is not opened or closed here; only the per-connection state is managed.
        """
        from xiot.config import GlobalOptions, resolve

        session = cls.__new__(cls)
        session.settings = settings or resolve(GlobalOptions(), jid_check=None)
        session.jid = parse_jid(str(client.boundjid.bare or client.requested_jid.bare))
        session.plugins = ()
        session._password = None
        session._send_presence = False
        session._ssl_context = None
        session._resolver = None
        session.xmpp = client
        session.endpoint = None
        session.connect_ms = None
        session.lost = None
        session._lost_waiter = None
        session._states = {}
        session._closing = False
        return session

    @property
    def client(self) -> slixmpp.ClientXMPP:
        if self.xmpp is None:
            raise RuntimeError("session is not open")
        return self.xmpp

    async def __aenter__(self) -> Session:
        await self.open()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    async def open(self) -> None:
        password = self._password if self._password is not None else fetch_password(self.settings)
        started = time.perf_counter()
        endpoints = await plan_endpoints(self.settings, self.jid.domain, self._resolver)
        errors: list[XiotError] = []
        deadline = time.monotonic() + self.settings.timeout
        for endpoint in endpoints:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                break
            try:
                self.xmpp = await self._attempt(endpoint, password, remaining)
            except (ConnectError, Timeout) as exc:
                errors.append(exc)
                log.info("%s: %s", endpoint, exc.message)
                continue
            self.endpoint = endpoint
            self.connect_ms = (time.perf_counter() - started) * 1000
            self._lost_waiter = asyncio.get_running_loop().create_future()
            self.xmpp.add_event_handler("disconnected", self._on_disconnected)
            return
        raise _summarise(errors, endpoints, self.settings.timeout)

    # -------------------------------------------------------------- per-connection state

    def state(self, kind: type[S]) -> S:
        """This connection's instance of ``kind``, created as ``kind(self)`` on first use."""
        found = self._states.get(kind)
        if found is None:
            found = self._states[kind] = kind(self)  # type: ignore[call-arg]
        return found  # type: ignore[no-any-return]

    def has_state(self, kind: type) -> bool:
        return kind in self._states

    # -------------------------------------------------------------- a lost connection

    def _on_disconnected(self, _: Any) -> None:
        if self._closing or self.lost is not None:
            return
        where = f" to {self.endpoint}" if self.endpoint else ""
        self.lost = ConnectionLost(f"connection{where} lost",
                                   "The server closed the stream or went away; run the "
                                   "command again once it is back")
        log.warning("%s", self.lost.message)
        if self._lost_waiter is not None and not self._lost_waiter.done():
            self._lost_waiter.set_result(None)
        for state in list(self._states.values()):
            notify = getattr(state, "connection_lost", None)
            if notify is not None:
                notify(self.lost)

    def check_alive(self) -> None:
        """Raise ``ConnectionLost`` if the stream has ended."""
        if self.lost is not None:
            raise self.lost

    async def guard(self, awaitable: Any) -> Any:
        """Await ``awaitable``, but raise ``ConnectionLost`` if the stream ends first.

        On a stream already lost, a coroutine given here is closed unstarted, so that it is
        not reported as never awaited when the process ends."""
        if self.lost is not None:
            if asyncio.iscoroutine(awaitable):
                awaitable.close()
            raise self.lost
        task = asyncio.ensure_future(awaitable)
        if self._lost_waiter is None:
            return await task
        done, _ = await asyncio.wait({task, self._lost_waiter},
                                     return_when=asyncio.FIRST_COMPLETED)
        if task in done:
            return task.result()
        task.cancel()
        with contextlib.suppress(BaseException):
            await task
        raise self.lost or ConnectionLost("connection lost")

    async def _attempt(
        self, endpoint: Endpoint, password: str, timeout: float
    ) -> slixmpp.ClientXMPP:
        _patch_scram()
        if not endpoint.plain and self._ssl_context is None:
            self._ssl_context = build_ssl_context(self.settings)
        xmpp = new_client(self.settings, endpoint, str(self.jid), password, self._ssl_context)
        for plugin in self.plugins:
            xmpp.register_plugin(plugin)
        xmpp.whitespace_keepalive = False
        outcome: asyncio.Future[XiotError | None] = asyncio.get_running_loop().create_future()
        _watch_outcome(xmpp, outcome, endpoint, self._send_presence)
        xmpp.connect(endpoint.address, endpoint.port)
        try:
            error = await asyncio.wait_for(asyncio.shield(outcome), timeout)
        except TimeoutError:
            error = Timeout(
                f"no session with {endpoint} within {self.settings.timeout:g}s",
                "The server may be overloaded or filtering; raise --timeout or check with "
                "'xiot probe'",
            )
        if error is not None:
            _abandon(xmpp)
            raise error
        return xmpp

    async def close(self) -> None:
        """Close the stream politely, but never wait more than a couple of seconds for it."""
        xmpp, self.xmpp = self.xmpp, None
        if xmpp is None:
            return
        self._closing = True
        for state in list(self._states.values()):
            close = getattr(state, "close", None)
            if close is not None:
                close()
        try:
            await asyncio.wait_for(xmpp.disconnect(wait=1.0), 2.0)
        except (TimeoutError, Exception):  # a close that fails must not hide the real outcome
            _abandon(xmpp)
        _stop_filters(xmpp)


def new_client(settings: Settings, endpoint: Endpoint, jid: str, password: str,
               context: ssl.SSLContext | None = None) -> slixmpp.ClientXMPP:
    """A slixmpp client for one attempt at ``endpoint``, not yet connected.

    Every stream xiot opens as a client (a Session, an in-band registration) is made here,
    so none of them differs: STARTTLS, direct TLS or (``--tls none``) none, the last only to
    a loopback address and said loudly; and no subscription request answered by itself.
    ``context`` is the caller's verifying context, if it keeps one.
    """
    import slixmpp

    if endpoint.plain:
        refuse_unless_loopback(endpoint)
        warn_unencrypted(endpoint)
        # Never used (no TLS is started), and verifying with no CA should it ever be.
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    elif context is None:
        context = build_ssl_context(settings)
    # Passing the context in spares slixmpp from building its own, which loads the system
    # trust store twice (~40 ms per client: a second per 25 simulated devices).
    xmpp = slixmpp.ClientXMPP(jid, password, ssl_context=context)
    xmpp.enable_direct_tls = endpoint.direct_tls
    xmpp.enable_starttls = not endpoint.direct_tls and not endpoint.plain
    xmpp.enable_plaintext = endpoint.plain
    # SASL PLAIN on an unencrypted stream: slixmpp refuses it unless told, and xiot tells it
    # so only for a --tls none endpoint (loopback, checked when it was planned).
    xmpp.plugin["feature_mechanisms"].unencrypted_plain = endpoint.plain
    # slixmpp approves every subscription request and asks for one back by default: a
    # readout or a watch would change the account's roster for whoever asked.  Only a
    # command that means to (provisioning, a scenario's own stanzas) answers requests.
    xmpp.roster.auto_authorize = None
    xmpp.roster.auto_subscribe = False
    return xmpp


def stream_encrypted(xmpp: slixmpp.ClientXMPP) -> bool:
    """Whether TLS protects the stream now (a server may offer features before STARTTLS)."""
    transport = getattr(xmpp, "transport", None)
    return transport is not None and transport.get_extra_info("ssl_object") is not None


def _watch_outcome(
    xmpp: slixmpp.ClientXMPP,
    outcome: asyncio.Future[XiotError | None],
    endpoint: Endpoint,
    send_presence: bool,
) -> None:
    """Turn slixmpp's events into one result: None when ready, else the error to raise."""

    def settle(value: XiotError | None) -> None:
        if not outcome.done():
            outcome.set_result(value)

    def on_session_start(_: Any) -> None:
        if send_presence:
            xmpp.send_presence()
        settle(None)

    def on_connection_failed(reason: Any) -> None:
        if isinstance(reason, ssl.SSLCertVerificationError):
            settle(_tls_error(endpoint, reason))
        elif isinstance(reason, ssl.SSLError):
            settle(TLSError(f"TLS handshake with {endpoint} failed: {reason.reason or reason}",
                            "Check --tls (starttls or direct) and the port"))
        else:
            settle(ConnectError(f"cannot connect to {endpoint}: {_reason_text(reason)}",
                                "Check the server address and that the server is running"))

    def on_invalid_chain(exc: Any) -> None:
        settle(_tls_error(endpoint, exc))

    def on_failed_auth(_: Any) -> None:
        if not xmpp.plugin["feature_mechanisms"].attempted_mechs:
            settle(_no_mechanism(xmpp, endpoint))  # nothing tried: none was acceptable
            return
        settle(AuthError(f"the server refused the credentials for {xmpp.requested_jid.bare}",
                         "Check the JID and the password source (xiot config show)"))

    def on_no_auth(_: Any) -> None:
        settle(_no_mechanism(xmpp, endpoint))

    def on_stream_error(stanza: Any) -> None:
        condition = stanza["condition"] or "undefined-condition"
        text = stanza["text"]
        settle(ConnectError(f"{endpoint} closed the stream: {condition}"
                            + (f" ({text})" if text else ""),
                            "Check that the JID's domain is served by this server"))

    def on_disconnected(_: Any) -> None:
        # A failed TLS handshake drops the transport before slixmpp reports the certificate
        # problem; give the more telling event a moment to arrive first.
        asyncio.get_running_loop().call_later(0.2, settle, ConnectError(
            f"{endpoint} closed the connection during set-up",
            "The server may require another TLS mode; try --tls direct or --tls starttls"))

    if endpoint.plain:
        _watch_unencrypted_features(xmpp, endpoint, settle)
    xmpp.add_event_handler("session_start", on_session_start)
    xmpp.add_event_handler("connection_failed", on_connection_failed)
    xmpp.add_event_handler("ssl_invalid_chain", on_invalid_chain)
    xmpp.add_event_handler("failed_all_auth", on_failed_auth)
    xmpp.add_event_handler("no_auth", on_no_auth)
    xmpp.add_event_handler("stream_error", on_stream_error)
    xmpp.add_event_handler("disconnected", on_disconnected)


def _watch_unencrypted_features(xmpp: slixmpp.ClientXMPP, endpoint: Endpoint,
                                settle: Any) -> None:
    """On a ``--tls none`` stream, a server that offers no SASL before TLS (it requires
    STARTTLS) is an error at once, not a wait until the timeout: slixmpp would just idle."""
    from slixmpp.xmlstream.handler import Callback
    from slixmpp.xmlstream.matcher import MatchXPath

    def on_features(stanza: Any) -> None:
        if "mechanisms" in xmpp.features:  # authenticated: the features after the restart
            return
        if stanza.xml.find("{urn:ietf:params:xml:ns:xmpp-sasl}mechanisms") is None:
            settle(TLSError(f"{endpoint} offers no authentication without TLS (it requires "
                            "STARTTLS)", "--tls none is only for test servers without TLS; "
                            "use --tls starttls or auto for this one"))

    xmpp.register_handler(Callback("xiot-unencrypted-features",
                                   MatchXPath(f"{{{xmpp.stream_ns}}}features"), on_features))


def _no_mechanism(xmpp: slixmpp.ClientXMPP, endpoint: Endpoint) -> XiotError:
    """Why no SASL mechanism could be used: no TLS to protect one (exit 4), or none offered
    that xiot accepts (exit 5)."""
    if endpoint.plain:
        return AuthError(f"{endpoint} offers no SASL PLAIN on its unencrypted stream",
                         "A test server for --tls none must allow plaintext authentication "
                         "(Prosody: allow_unencrypted_plain_auth; or 'xiot lab up --open')")
    if not stream_encrypted(xmpp):
        return TLSError(f"the server at {endpoint.where} offers no STARTTLS, and "
                        "xiot never authenticates in plaintext",
                        "Use the server's TLS port or mode (--tls direct); for a loopback test "
                        "server only, --tls none --server 127.0.0.1:PORT")
    return AuthError(f"{endpoint} offers no SASL mechanism xiot accepts",
                     "xiot never authenticates in plaintext; the server needs SCRAM or "
                     "PLAIN over TLS")


def _tls_error(endpoint: Endpoint, exc: Any) -> TLSError:
    detail = getattr(exc, "verify_message", None) or getattr(exc, "reason", None) or str(exc)
    return TLSError(
        f"TLS certificate of {endpoint} was not accepted: {detail}",
        "Give the server's CA with --ca, or fix the server certificate "
        "(--insecure skips the check, unsafely)",
    )


def _reason_text(reason: Any) -> str:
    if isinstance(reason, OSError) and reason.strerror:
        return reason.strerror
    return str(reason) or type(reason).__name__


def _abandon(xmpp: slixmpp.ClientXMPP) -> None:
    """Stop every pending attempt and drop the transport: no reconnect loop survives us."""
    try:
        xmpp.cancel_connection_attempt()
        xmpp.abort()
    except Exception:  # already torn down
        log.debug("abort after failure raised", exc_info=True)
    _stop_filters(xmpp)


def _stop_filters(xmpp: slixmpp.ClientXMPP) -> None:
    """Cancel slixmpp's output-filter task while the loop still runs.

    Left pending, it is cancelled by ``XMLStream.__del__`` whenever the garbage collector gets
    to the object, which after the loop has closed raises "Event loop is closed" from inside
    whatever code happened to trigger the collection.
    """
    filters = getattr(xmpp, "_run_out_filters", None)
    if filters is not None and not filters.done():
        filters.cancel()


def _summarise(errors: list[XiotError], endpoints: list[Endpoint], timeout: float) -> XiotError:
    """One error for a failed connection plan: the last decisive one, naming all attempts."""
    if not errors:
        return Timeout(f"no endpoint answered within {timeout:g}s",
                       "Raise --timeout or check the server address")
    if len(errors) == 1:
        return errors[0]
    last = errors[-1]
    tried = ", ".join(str(e) for e in endpoints)
    last.message = f"{last.message} (tried {tried})"
    return last
