"""Raw XMPP stream negotiation for probes: what a server says before anyone logs in.

A client library hides exactly what an operator needs to see: it negotiates TLS as soon as it
can, never shows the features offered before TLS, and folds a stream error into a generic
disconnect.  This module speaks the protocol itself over asyncio streams: TCP connect, stream
header, features, STARTTLS (or direct TLS with ALPN and SNI), the stream header and features
again, and a polite close.  Every phase is timed and bounded by a deadline, and a failure is
recorded as data (``StreamProbe.error``) rather than raised, because one broken endpoint is a
finding, not a reason to stop probing the others.

The XML is read with ``xiot.xmlsafe``'s incremental parser over a byte budget; documents that
declare a DTD or entities are refused (RFC 6120 section 11.1 forbids them, and entity
expansion is an attack).
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import time
import xml.etree.ElementTree as ET
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal
from xml.sax.saxutils import quoteattr

from xiot.probes.report import Check, Status
from xiot.probes.tls import TlsInfo, handshake_info, probe_context
from xiot.xmlsafe import PullParser, UnsafeXml, XmlError
from xiot.xmpp.dns import Endpoint

STREAM_NS = "http://etherx.jabber.org/streams"
STREAM_ERROR_NS = "urn:ietf:params:xml:ns:xmpp-streams"
TLS_NS = "urn:ietf:params:xml:ns:xmpp-tls"
SASL_NS = "urn:ietf:params:xml:ns:xmpp-sasl"

#: Bytes one stream may send us before we stop reading (a features list is a few KiB).
MAX_STREAM_BYTES = 256 * 1024

#: Friendly names of the stream features we know, by ``{namespace}element``.
FEATURE_NAMES: dict[str, str] = {
    f"{{{TLS_NS}}}starttls": "starttls",
    f"{{{SASL_NS}}}mechanisms": "sasl",
    "{urn:xmpp:sasl:2}authentication": "sasl2",
    "{urn:xmpp:sasl-cb:0}sasl-channel-binding": "channel-binding",
    "{urn:ietf:params:xml:ns:xmpp-bind}bind": "bind",
    "{urn:ietf:params:xml:ns:xmpp-session}session": "session",
    "{urn:xmpp:sm:3}sm": "sm",
    "{urn:xmpp:sm:2}sm": "sm2",
    "{urn:xmpp:csi:0}csi": "csi",
    "{urn:xmpp:features:rosterver}ver": "rosterver",
    "{urn:xmpp:features:pre-approval}sub": "pre-approval",
    "{http://jabber.org/features/iq-register}register": "register",
    "{http://jabber.org/features/compress}compression": "compression",
    "{urn:xmpp:features:dialback}dialback": "dialback",
    "{urn:xmpp:bidi}bidi": "bidi",
    "{http://jabber.org/protocol/caps}c": "caps",
    "{urn:xmpp:bind:0}bind": "bind2",
    "{urn:xmpp:fast:0}fast": "fast",
    "{urn:xmpp:limits:0}limits": "limits",
}

Phase = Literal["tcp", "stream", "starttls", "tls", "features"]


class StreamClosed(Exception):
    """The peer closed the stream or the connection, or sent a stream error."""

    def __init__(self, message: str, error: StreamError | None = None) -> None:
        super().__init__(message)
        self.error = error


@dataclass(frozen=True)
class StreamHeader:
    """The attributes of the peer's ``<stream:stream>`` opening tag."""

    from_: str | None
    to: str | None
    version: str | None
    id: str | None
    lang: str | None
    namespace: str | None


@dataclass(frozen=True)
class StreamError:
    """A decoded ``<stream:error>``: the defined condition and the optional text."""

    condition: str
    text: str | None = None

    def __str__(self) -> str:
        return self.condition + (f" ({self.text})" if self.text else "")


@dataclass(frozen=True)
class Features:
    """A ``<stream:features>`` element, decoded into the facts probes judge."""

    names: tuple[str, ...] = ()
    starttls: bool = False
    starttls_required: bool = False
    mechanisms: tuple[str, ...] = ()
    channel_bindings: tuple[str, ...] = ()
    compression: tuple[str, ...] = ()
    raw: str = ""

    def has(self, name: str) -> bool:
        return name in self.names


def parse_features(element: ET.Element) -> Features:
    """Decode a features element; unknown features keep their ``{namespace}name``."""
    names: list[str] = []
    mechanisms: list[str] = []
    bindings: list[str] = []
    methods: list[str] = []
    starttls = required = False
    for child in element:
        names.append(FEATURE_NAMES.get(child.tag, child.tag))
        if child.tag == f"{{{TLS_NS}}}starttls":
            starttls = True
            required = child.find(f"{{{TLS_NS}}}required") is not None
        elif child.tag == f"{{{SASL_NS}}}mechanisms":
            mechanisms += [(m.text or "").strip() for m in child if m.tag.endswith("mechanism")]
        elif child.tag == "{urn:xmpp:sasl:2}authentication":
            mechanisms += [(m.text or "").strip() for m in child if m.tag.endswith("mechanism")
                           and (m.text or "").strip() not in mechanisms]
        elif child.tag == "{urn:xmpp:sasl-cb:0}sasl-channel-binding":
            bindings += [cb.get("type", "") for cb in child]
        elif child.tag.endswith("}compression"):
            methods += [(m.text or "").strip() for m in child]
    return Features(tuple(names), starttls, required, tuple(mechanisms), tuple(bindings),
                    tuple(methods), ET.tostring(element, encoding="unicode"))


class StreamReader:
    """Reads one XML stream: the header, then one top-level element at a time.

    A new ``StreamReader`` is made after STARTTLS, because the stream restarts there.
    """

    def __init__(self, reader: asyncio.StreamReader, budget: int = MAX_STREAM_BYTES,
                 sock: socket.socket | None = None) -> None:
        self._reader = reader
        self._sock = sock
        self._parser = PullParser()
        self._depth = 0
        self._budget = budget
        self._pending: list[tuple[str, ET.Element]] = []
        self.header: StreamHeader | None = None

    async def _events(self, deadline: float) -> None:
        loop = asyncio.get_running_loop()
        while not self._pending:
            remaining = deadline - loop.time()
            if remaining <= 0:
                raise TimeoutError
            _quickack(self._sock)
            # ``timeout_at`` rather than ``wait_for``: no extra task per read.
            async with asyncio.timeout_at(deadline):
                data = await self._reader.read(8192)
            if not data:
                raise StreamClosed("the server closed the connection")
            self._budget -= len(data)
            if self._budget < 0:
                raise StreamClosed(f"the server sent more than {MAX_STREAM_BYTES} bytes")
            try:
                self._parser.feed(data)
            except UnsafeXml as exc:
                raise StreamClosed(f"the server sent XML that XMPP forbids: {exc}") from None
            except XmlError as exc:
                raise StreamClosed(f"the server sent malformed XML: {exc}") from None
            self._pending.extend(self._parser.read_events())

    async def read_header(self, deadline: float) -> StreamHeader:
        """Wait for the peer's stream header."""
        while self.header is None:
            await self._events(deadline)
            event, element = self._pending.pop(0)
            if event == "start":
                self._depth += 1
                if element.tag != f"{{{STREAM_NS}}}stream":
                    raise StreamClosed(f"the server did not open an XMPP stream ({element.tag})")
                attrs = element.attrib
                namespace = _default_namespace(attrs)
                self.header = StreamHeader(
                    attrs.get("from"), attrs.get("to"), attrs.get("version"), attrs.get("id"),
                    attrs.get("{http://www.w3.org/XML/1998/namespace}lang"), namespace)
        return self.header

    async def read_element(self, deadline: float) -> ET.Element:
        """The next complete top-level element; ``StreamClosed`` on a stream error or end."""
        while True:
            await self._events(deadline)
            event, element = self._pending.pop(0)
            if event == "start":
                self._depth += 1
                continue
            self._depth -= 1
            if self._depth == 0:
                raise StreamClosed("the server closed the stream")
            if self._depth == 1:
                if element.tag == f"{{{STREAM_NS}}}error":
                    error = parse_stream_error(element)
                    raise StreamClosed(f"stream error: {error}", error)
                return element


def _quickack(sock: socket.socket | None) -> None:
    """Acknowledge at once instead of after the delayed-ACK timer (Linux).

    Servers often write the stream header and the features separately; with Nagle on their
    side and delayed ACKs on ours, the features then wait about 40 ms for our ACK, which would
    dominate every probe on a fast network.
    """
    if sock is not None and hasattr(socket, "TCP_QUICKACK"):
        with contextlib.suppress(OSError):
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_QUICKACK, 1)


def _default_namespace(attrs: Mapping[str, str]) -> str | None:
    # ElementTree drops xmlns declarations; the content namespace shows in the child tags.
    return attrs.get("xmlns")


def parse_stream_error(element: ET.Element) -> StreamError:
    """Condition and text of a ``<stream:error>`` (RFC 6120 section 4.9)."""
    condition, text = "undefined-condition", None
    for child in element:
        namespace, _, local = child.tag[1:].partition("}")
        if namespace != STREAM_ERROR_NS:
            continue
        if local == "text":
            text = (child.text or "").strip() or None
        else:
            condition = local
    return StreamError(condition, text)


@dataclass(frozen=True)
class StreamProbe:
    """What one endpoint said, phase by phase; ``error`` is set when a phase failed."""

    domain: str
    endpoint: Endpoint
    connect_ms: float | None = None
    header_before: StreamHeader | None = None
    features_before: Features | None = None
    tls: TlsInfo | None = None
    header_after: StreamHeader | None = None
    features_after: Features | None = None
    stream_error: StreamError | None = None
    error: str | None = None
    error_phase: Phase | None = None
    timings: Mapping[str, float] = field(default_factory=dict, hash=False)

    @property
    def kind(self) -> str:
        return self.endpoint.kind

    @property
    def label(self) -> str:
        return self.endpoint.label


def stream_open(domain: str, namespace: str, from_domain: str | None = None) -> bytes:
    """Our stream header (RFC 6120 section 4.7); ``from`` only when asked for (s2s)."""
    sender = f" from={quoteattr(from_domain)}" if from_domain else ""
    return (f"<?xml version='1.0'?><stream:stream xmlns={quoteattr(namespace)} "
            f"xmlns:stream='{STREAM_NS}' to={quoteattr(domain)}{sender} version='1.0' "
            "xml:lang='en'>").encode()


class _Negotiation:
    """The mutable state of one probe while it runs; frozen into a ``StreamProbe`` at the end."""

    def __init__(self, domain: str, endpoint: Endpoint) -> None:
        self.domain = domain
        self.endpoint = endpoint
        self.values: dict[str, Any] = {}
        self.timings: dict[str, float] = {}
        self.phase: Phase = "tcp"

    def timed(self, phase: str, started: float) -> float:
        elapsed = (time.perf_counter() - started) * 1000
        self.timings[phase] = round(elapsed, 3)
        return elapsed

    def result(self, error: str | None = None, stream_error: StreamError | None = None
               ) -> StreamProbe:
        return StreamProbe(
            self.domain, self.endpoint, stream_error=stream_error, error=error,
            error_phase=self.phase if error else None, timings=self.timings, **self.values)


async def probe_stream(
    domain: str,
    endpoint: Endpoint,
    *,
    timeout: float = 5.0,
    from_domain: str | None = None,
) -> StreamProbe:
    """Negotiate up to the post-TLS features at ``endpoint`` and describe what was seen.

    ``timeout`` bounds the whole negotiation.  Never raises for network or protocol trouble:
    the phase that failed and why are in the result.  The connection is closed before
    returning, with a ``</stream:stream>`` when the stream got that far.
    """
    state = _Negotiation(domain, endpoint)
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    writer: asyncio.StreamWriter | None = None
    try:
        writer = await _negotiate(state, deadline, from_domain)
        return state.result()
    except StreamClosed as exc:
        return state.result(str(exc), exc.error)
    except TimeoutError:
        return state.result(f"no answer within {timeout:g}s")
    except (OSError, EOFError) as exc:
        return state.result(_os_error_text(exc))
    finally:
        if writer is not None:
            await _close(writer)


async def _negotiate(
    state: _Negotiation, deadline: float, from_domain: str | None
) -> asyncio.StreamWriter:
    loop = asyncio.get_running_loop()
    endpoint, domain = state.endpoint, state.domain
    namespace = "jabber:client" if endpoint.kind == "client" else "jabber:server"
    context = probe_context(endpoint.kind)

    def left() -> float:
        return max(deadline - loop.time(), 0.001)

    async def start_tls() -> None:
        state.phase = "tls"
        started = time.perf_counter()
        async with asyncio.timeout_at(deadline):
            await writer.start_tls(context, server_hostname=domain,
                                   ssl_handshake_timeout=left())
        state.values["tls"] = handshake_info(writer, domain, context,
                                             state.timed("tls", started))

    started = time.perf_counter()
    async with asyncio.timeout_at(deadline):
        reader, writer = await asyncio.open_connection(endpoint.address, endpoint.port)
    state.values["connect_ms"] = state.timed("tcp", started)
    try:
        if endpoint.direct_tls:
            await start_tls()
        else:
            state.phase = "stream"
            started = time.perf_counter()
            writer.write(stream_open(domain, namespace, from_domain))
            stream = StreamReader(reader, sock=writer.get_extra_info("socket"))
            state.values["header_before"] = await stream.read_header(deadline)
            features = parse_features(await stream.read_element(deadline))
            state.values["features_before"] = features
            state.timed("stream", started)
            if not features.starttls:
                raise StreamClosed("the server does not offer STARTTLS")
            state.phase = "starttls"
            started = time.perf_counter()
            writer.write(f"<starttls xmlns='{TLS_NS}'/>".encode())
            answer = await stream.read_element(deadline)
            if answer.tag != f"{{{TLS_NS}}}proceed":
                raise StreamClosed(f"the server answered STARTTLS with {answer.tag}")
            state.timed("starttls", started)
            await start_tls()
        state.phase = "features"
        started = time.perf_counter()
        writer.write(stream_open(domain, namespace, from_domain))
        stream = StreamReader(reader, sock=writer.get_extra_info("socket"))
        state.values["header_after"] = await stream.read_header(deadline)
        state.values["features_after"] = parse_features(await stream.read_element(deadline))
        state.timed("features", started)
    except BaseException:
        await _close(writer)
        raise
    return writer


async def _close(writer: asyncio.StreamWriter) -> None:
    """Say goodbye and drop the connection without waiting long for the peer."""
    if writer.is_closing():
        return
    try:
        writer.write(b"</stream:stream>")
        writer.close()
        async with asyncio.timeout(0.5):
            await writer.wait_closed()
    except (OSError, TimeoutError, EOFError, RuntimeError):
        writer.transport.abort()
    except Exception:  # ssl shutdown oddities: the connection is gone either way
        writer.transport.abort()


def _os_error_text(exc: BaseException) -> str:
    import ssl

    if isinstance(exc, ssl.SSLError):
        return f"TLS handshake failed: {exc.reason or exc}"
    if isinstance(exc, ConnectionRefusedError):
        return "connection refused"
    if isinstance(exc, OSError) and exc.strerror:
        return exc.strerror.lower()
    return str(exc) or type(exc).__name__


# -- checks --------------------------------------------------------------------------------


def stream_checks(probe: StreamProbe) -> tuple[Check, ...]:
    """Judge one endpoint's stream: ``tcp.connect``, ``stream.*``, ``sasl.*``, ``s2s.*``.

    TLS facts are judged by ``xiot.probes.tls.tls_checks``.  Checks for phases the probe
    never reached are left out, so a closed port reads as one failing ``tcp.connect``.
    """
    checks: list[Check] = []
    label = probe.label

    def add(check_id: str, status: Status, message: str, elapsed: float | None = None,
            **details: Any) -> None:
        checks.append(Check(probe.domain, check_id, status, elapsed, message, label, details))

    if probe.error_phase == "tcp":
        add("tcp.connect", "fail", f"cannot connect: {probe.error}")
        return tuple(checks)
    add("tcp.connect", "ok", "connected", probe.connect_ms)
    if not probe.endpoint.direct_tls:
        _opening_checks(probe, add)
    if probe.error_phase not in ("stream", "starttls", "tls"):
        _after_tls_checks(probe, add)
    return tuple(checks)


def _opening_checks(probe: StreamProbe, add: Any) -> None:
    """``stream.open``, ``stream.starttls`` and ``sasl.before-tls`` (STARTTLS endpoints)."""
    header, features = probe.header_before, probe.features_before
    if header is None or (probe.error_phase == "stream" and features is None):
        what = f"stream error {probe.stream_error}" if probe.stream_error else probe.error
        add("stream.open", "fail", f"no usable stream: {what}", probe.timings.get("stream"),
            condition=probe.stream_error.condition if probe.stream_error else None)
        return
    status, message = judge_header(header, probe.domain)
    add("stream.open", status, message, probe.timings.get("stream"), **_header_details(header))
    assert features is not None
    names = list(features.names)
    if not features.starttls:
        add("stream.starttls", "fail", "STARTTLS not offered: the stream cannot be encrypted",
            features=names)
    elif probe.error_phase == "starttls":
        add("stream.starttls", "fail", f"STARTTLS failed: {probe.error}", features=names)
    elif features.starttls_required:
        add("stream.starttls", "ok", "STARTTLS offered and required",
            probe.timings.get("starttls"), features=names)
    else:
        add("stream.starttls", "warn", "STARTTLS offered but not required: clients may stay "
            "in plaintext", probe.timings.get("starttls"), features=names)
    status, message = judge_pre_tls_features(features)
    add("sasl.before-tls", status, message, mechanisms=list(features.mechanisms),
        register="register" in features.names)


def _after_tls_checks(probe: StreamProbe, add: Any) -> None:
    header, features = probe.header_after, probe.features_after
    if header is None or features is None:
        what = f"stream error {probe.stream_error}" if probe.stream_error else probe.error
        add("stream.features", "fail", f"no stream after TLS: {what}",
            probe.timings.get("features"),
            condition=probe.stream_error.condition if probe.stream_error else None)
        return
    if probe.endpoint.direct_tls:
        status, message = judge_header(header, probe.domain)
        add("stream.open", status, message, None, **_header_details(header))
    add("stream.features", "ok" if features.names else "warn",
        "features after TLS: " + (", ".join(features.names) or "none"),
        probe.timings.get("features"), features=list(features.names), raw=features.raw)
    tls_version = probe.tls.version if probe.tls else None
    if probe.kind == "client":
        status, message = judge_mechanisms(features, tls_version)
        add("sasl.mechanisms", status, message, mechanisms=list(features.mechanisms),
            channel_bindings=list(features.channel_bindings))
        if offers_sm(features.names):
            # Servers normally offer it only after authentication (judged with --login, by
            # the runner); one that offers it earlier has certainly got it.
            add("stream.sm", "ok", "stream management (XEP-0198) offered before login")
    else:
        status, message = judge_s2s(features)
        add("s2s.auth", status, message, mechanisms=list(features.mechanisms),
            dialback=features.has("dialback"))
    status, message = judge_compression(features, probe.tls.compression if probe.tls else None)
    add("stream.compression", status, message, methods=list(features.compression))


def _header_details(header: StreamHeader) -> dict[str, Any]:
    return {"from": header.from_, "version": header.version, "id": header.id,
            "lang": header.lang}


def offers_sm(names: tuple[str, ...] | list[str]) -> bool:
    """Whether stream features (by friendly name) include stream management (XEP-0198)."""
    return "sm" in names or "sm2" in names


def judge_sm_after_login(names: tuple[str, ...] | list[str]) -> tuple[Status, str]:
    """Stream management after authentication: advice, since XMPP works without it."""
    if offers_sm(names):
        return "ok", "stream management (XEP-0198) offered after login"
    return "note", ("no stream management (XEP-0198) after login: devices on flaky links "
                    "may lose stanzas (Prosody: enable mod_smacks)")


def judge_header(header: StreamHeader, domain: str) -> tuple[Status, str]:
    """A stream header must come from the domain asked for and speak version 1.0."""
    problems = []
    if (header.from_ or "").lower() != domain.lower():
        problems.append(f"from={header.from_!r}, expected {domain!r}")
    if header.version != "1.0":
        problems.append(f"version={header.version!r}, expected '1.0' (RFC 6120)")
    if problems:
        return "warn", "stream header: " + "; ".join(problems)
    return "ok", f"stream opened: from={header.from_}, version={header.version}"


def judge_pre_tls_features(features: Features) -> tuple[Status, str]:
    """Before TLS nothing should be offered that exposes credentials."""
    if "PLAIN" in features.mechanisms:
        return "fail", "SASL PLAIN offered before TLS: passwords can travel in cleartext"
    if features.mechanisms:
        return "warn", ("SASL offered before TLS: " + ", ".join(features.mechanisms)
                        + " (offer authentication only after TLS)")
    if features.has("register"):
        return "warn", "in-band registration offered before TLS"
    return "ok", "no authentication offered before TLS"


def judge_mechanisms(features: Features, tls_version: str | None) -> tuple[Status, str]:
    """SASL after TLS: SCRAM wanted (``warn`` without); ``-PLUS`` (channel binding) with a
    usable type is hardening advice (``note`` without).

    tls-unique is undefined for TLS 1.3 (RFC 9266), so on 1.3 a server that advertises only
    tls-unique cannot bind channels at all.
    """
    mechanisms = features.mechanisms
    if not mechanisms:
        return "fail", "no SASL mechanisms offered after TLS"
    listed = ", ".join(mechanisms)
    if not any(m.startswith("SCRAM-") for m in mechanisms):
        return "warn", f"{listed}: no SCRAM mechanism (passwords reach the server)"
    plus = [m for m in mechanisms if m.endswith("-PLUS")]
    if not plus:
        return "note", (f"{listed}: no SCRAM-*-PLUS, so no channel binding (hardening: it "
                        "stops a man in the middle who holds a trusted certificate)")
    bindings = features.channel_bindings
    if tls_version == "TLSv1.3" and bindings and set(bindings) <= {"tls-unique"}:
        return "note", (f"{listed}: only tls-unique advertised, which TLS 1.3 does not define "
                        "(advertise tls-exporter or tls-server-end-point)")
    shown = f" (channel binding: {', '.join(bindings)})" if bindings else ""
    return "ok", f"{listed}{shown}"


def judge_s2s(features: Features) -> tuple[Status, str]:
    """A server must offer a way for peers to authenticate: dialback or SASL EXTERNAL."""
    ways = (["dialback"] if features.has("dialback") else []) + (
        ["SASL EXTERNAL"] if "EXTERNAL" in features.mechanisms else [])
    if ways:
        return "ok", f"s2s authentication offered: {', '.join(ways)}"
    return "fail", "neither dialback nor SASL EXTERNAL offered: peers cannot authenticate"


def judge_compression(features: Features, tls_compression: str | None) -> tuple[Status, str]:
    """Compression under encryption leaks content (CRIME); it should be absent."""
    used = [f"TLS {tls_compression}"] if tls_compression else []
    used += [f"XEP-0138 {m}" for m in features.compression]
    if used:
        return "fail", f"compression offered ({', '.join(used)}): vulnerable to CRIME-style leaks"
    return "ok", "no TLS or stream compression"
