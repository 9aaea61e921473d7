"""Raw XMPP stream negotiation for probes: what a server says before anyone logs in.

A client library hides exactly what an operator needs to see: it negotiates TLS as soon as it
can, never shows the features offered before TLS, and folds a stream error into a generic
disconnect.  This module speaks the protocol itself over asyncio streams: TCP connect, stream
header, features, STARTTLS (or direct TLS with ALPN and SNI), the stream header and features
again, and a polite close.  Every phase is timed and bounded by a deadline, and a failure is
recorded as data (``StreamProbe.error``) rather than raised, because one broken endpoint is a
finding, not a reason to stop probing the others.  ``xiot.probes.judge`` turns it into checks.

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

from xiot.probes.tls import TlsInfo, handshake_info, probe_context
from xiot.xmlsafe import PullParser, UnsafeXml, XmlError
from xiot.xmpp.endpoints import Endpoint

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
