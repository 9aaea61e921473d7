"""HTTP endpoints of an XMPP domain: host-meta (XEP-0156), BOSH (XEP-0206), WebSocket (RFC 7395).

Browser clients and many gateways never look at SRV records: they read the domain's host-meta
and connect over BOSH or WebSocket.  A host-meta that lists a dead or wrongly configured URL
breaks them while every SRV check passes, so the probe fetches both host-meta forms, then
opens a real XMPP stream over each advertised endpoint and reads the server's answer.

The HTTP and WebSocket client here is deliberately tiny (HTTP/1.1, one request per
connection, a byte budget, every wait bounded) and resolves host names through the probe's
own resolver, so ``--resolver`` applies to these look-ups too.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import hashlib
import ipaddress
import json
import os
import ssl
import time
import xml.etree.ElementTree as ET
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urljoin, urlsplit
from xml.sax.saxutils import quoteattr

from xiot.probes.report import Check, Status

XRD_NS = "http://docs.oasis-open.org/ns/xri/xrd-1.0"
BOSH_REL = "urn:xmpp:alt-connections:xbosh"
WEBSOCKET_REL = "urn:xmpp:alt-connections:websocket"
FRAMING_NS = "urn:ietf:params:xml:ns:xmpp-framing"
BOSH_NS = "http://jabber.org/protocol/httpbind"
_WS_GUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"
MAX_BODY = 256 * 1024
MAX_REDIRECTS = 3

#: ``host -> addresses`` resolver; the runner passes one that asks the probe's nameservers.
Resolve = Callable[[str], Awaitable[Sequence[str]]]


class HttpFailure(Exception):
    """An HTTP exchange that could not be completed (connect, TLS, protocol, timeout)."""


@dataclass(frozen=True)
class HttpResponse:
    status: int
    headers: Mapping[str, str]
    body: bytes
    url: str
    elapsed_ms: float


@dataclass(frozen=True)
class HostMeta:
    """One host-meta document (XRD or JRD) and the XMPP links it advertises."""

    url: str
    fmt: str
    status: Status
    message: str
    bosh: tuple[str, ...] = ()
    websocket: tuple[str, ...] = ()
    cors: str | None = None
    elapsed_ms: float | None = None
    details: Mapping[str, Any] = field(default_factory=dict, hash=False)


# -- HTTP ------------------------------------------------------------------------------------


async def _open(url: str, resolve: Resolve, deadline: float, context: ssl.SSLContext | None
                ) -> tuple[asyncio.StreamReader, asyncio.StreamWriter, str]:
    """Connect to the URL's host (every resolved address in turn); returns the Host value."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https", "ws", "wss") or not parts.hostname:
        raise HttpFailure(f"unsupported URL {url!r}")
    secure = parts.scheme in ("https", "wss")
    port = parts.port or (443 if secure else 80)
    host = parts.hostname
    addresses = [host] if _is_ip(host) else list(await resolve(host))
    if not addresses:
        raise HttpFailure(f"{host} has no addresses")
    loop = asyncio.get_running_loop()
    errors: list[str] = []
    for address in addresses:
        left = deadline - loop.time()
        if left <= 0:
            break
        try:
            tls = (context or ssl.create_default_context()) if secure else None
            reader, writer = await asyncio.wait_for(asyncio.open_connection(
                address, port, ssl=tls, server_hostname=host if secure else None,
                ssl_handshake_timeout=left if secure else None), left)
        except ssl.SSLCertVerificationError as exc:
            raise HttpFailure(f"TLS certificate of {host} not accepted: "
                              f"{exc.verify_message}") from None
        except (OSError, TimeoutError) as exc:
            errors.append(f"{address}: {_error_text(exc)}")
            continue
        netloc = host if parts.port is None else f"{host}:{port}"
        return reader, writer, netloc
    raise HttpFailure("; ".join(errors) or "no time left")


async def http_request(
    url: str,
    *,
    resolve: Resolve,
    timeout: float,
    method: str = "GET",
    body: bytes = b"",
    headers: Mapping[str, str] | None = None,
    host_header: str | None = None,
    context: ssl.SSLContext | None = None,
    follow: int = MAX_REDIRECTS,
) -> HttpResponse:
    """One HTTP/1.1 request; follows up to ``follow`` redirects.  Raises ``HttpFailure``."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    started = time.perf_counter()
    for _ in range(follow + 1):
        reader, writer, netloc = await _open(url, resolve, deadline, context)
        try:
            parts = urlsplit(url)
            path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
            lines = [f"{method} {path} HTTP/1.1", f"Host: {host_header or netloc}",
                     "Connection: close", "User-Agent: xiot-probe", "Accept: */*",
                     "Origin: https://xiot.invalid"]
            lines += [f"{k}: {v}" for k, v in (headers or {}).items()]
            if body or method == "POST":
                lines.append(f"Content-Length: {len(body)}")
            writer.write(("\r\n".join(lines) + "\r\n\r\n").encode() + body)
            status, response_headers = await _read_head(reader, deadline)
            content = await _read_body(reader, response_headers, deadline)
        except TimeoutError:
            raise HttpFailure(f"no answer within {timeout:g}s") from None
        except (OSError, ValueError, asyncio.IncompleteReadError) as exc:
            raise HttpFailure(_error_text(exc)) from None
        finally:
            writer.transport.abort()
        location = response_headers.get("location")
        if status in (301, 302, 303, 307, 308) and location:
            url = urljoin(url, location)
            host_header = None
            continue
        return HttpResponse(status, response_headers, content, url,
                            (time.perf_counter() - started) * 1000)
    raise HttpFailure(f"more than {follow} redirects")


async def _read_head(reader: asyncio.StreamReader, deadline: float
                     ) -> tuple[int, dict[str, str]]:
    loop = asyncio.get_running_loop()
    raw = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"),
                                 max(deadline - loop.time(), 0.001))
    lines = raw.decode("iso-8859-1").split("\r\n")
    parts = lines[0].split(" ", 2)
    if len(parts) < 2 or not parts[0].startswith("HTTP/") or not parts[1].isdigit():
        raise ValueError(f"not an HTTP response: {lines[0][:60]!r}")
    headers: dict[str, str] = {}
    for line in lines[1:]:
        name, sep, value = line.partition(":")
        if sep:
            headers[name.strip().lower()] = value.strip()
    return int(parts[1]), headers


async def _read_body(reader: asyncio.StreamReader, headers: Mapping[str, str],
                     deadline: float) -> bytes:
    loop = asyncio.get_running_loop()

    def left() -> float:
        return max(deadline - loop.time(), 0.001)

    if "chunked" in headers.get("transfer-encoding", "").lower():
        body = b""
        while len(body) <= MAX_BODY:
            size_line = await asyncio.wait_for(reader.readuntil(b"\r\n"), left())
            size = int(size_line.split(b";")[0].strip() or b"0", 16)
            if size == 0:
                return body
            body += await asyncio.wait_for(reader.readexactly(size + 2), left())
            body = body[:-2]
        raise ValueError(f"body larger than {MAX_BODY} bytes")
    if "content-length" in headers:
        size = int(headers["content-length"])
        if size > MAX_BODY:
            raise ValueError(f"body larger than {MAX_BODY} bytes")
        return await asyncio.wait_for(reader.readexactly(size), left())
    body = await asyncio.wait_for(reader.read(MAX_BODY + 1), left())
    return body[:MAX_BODY]


def _is_ip(host: str) -> bool:
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return False
    return True


def _error_text(exc: BaseException) -> str:
    if isinstance(exc, ssl.SSLError):
        return f"TLS failed: {exc.reason or exc}"
    if isinstance(exc, ConnectionRefusedError):
        return "connection refused"
    if isinstance(exc, TimeoutError):
        return "timed out"
    if isinstance(exc, asyncio.IncompleteReadError):
        return "the server closed the connection mid-answer"
    if isinstance(exc, OSError) and exc.strerror:
        return exc.strerror.lower()
    return str(exc) or type(exc).__name__


def _plaintext(url: str) -> bool:
    """``http:``/``ws:`` to anything but loopback exposes the stream (and passwords)."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "ws"):
        return False
    host = parts.hostname or ""
    return not (host == "localhost" or (_is_ip(host) and ipaddress.ip_address(host).is_loopback))


# -- host-meta -------------------------------------------------------------------------------


def host_meta_urls(domain: str, base: str | None = None) -> tuple[str, str]:
    """The XML and JSON host-meta URLs: ``https://DOMAIN`` unless ``base`` overrides it."""
    root = (base or f"https://{domain}").rstrip("/")
    return f"{root}/.well-known/host-meta", f"{root}/.well-known/host-meta.json"


def parse_xrd(body: bytes) -> list[tuple[str, str]]:
    """``(rel, href)`` of every Link in an XRD document; ``ValueError`` if not XRD."""
    if b"<!DOCTYPE" in body or b"<!ENTITY" in body:
        raise ValueError("document declares a DTD")
    try:
        root = ET.fromstring(body)
    except ET.ParseError as exc:
        raise ValueError(f"not well-formed XML ({exc})") from None
    if root.tag != f"{{{XRD_NS}}}XRD":
        raise ValueError(f"root element is {root.tag}, not an XRD")
    return [(link.get("rel", ""), link.get("href", "")) for link in root
            if link.tag == f"{{{XRD_NS}}}Link"]


def parse_jrd(body: bytes) -> list[tuple[str, str]]:
    """``(rel, href)`` of every link in a JRD (host-meta.json); ``ValueError`` if not JRD."""
    try:
        data = json.loads(body)
    except (ValueError, UnicodeDecodeError) as exc:
        raise ValueError(f"not JSON ({exc})") from None
    links = data.get("links") if isinstance(data, dict) else None
    if not isinstance(links, list):
        raise ValueError("no 'links' array")
    return [(str(link.get("rel", "")), str(link.get("href", ""))) for link in links
            if isinstance(link, dict)]


async def fetch_host_meta(
    domain: str, url: str, fmt: str, *, resolve: Resolve, timeout: float,
    context: ssl.SSLContext | None = None,
) -> HostMeta:
    """Fetch and judge one host-meta document (``fmt`` is ``xml`` or ``json``)."""
    try:
        response = await http_request(url, resolve=resolve, timeout=timeout,
                                      host_header=None if url.startswith(f"https://{domain}")
                                      else domain, context=context)
    except HttpFailure as exc:
        return HostMeta(url, fmt, "skip", f"not published ({exc})")
    cors = response.headers.get("access-control-allow-origin")
    base = {"url": url, "fmt": fmt, "cors": cors, "elapsed_ms": response.elapsed_ms}
    if response.status == 404:
        return HostMeta(status="skip", message="not published (HTTP 404)", **base)
    if response.status != 200:
        return HostMeta(status="fail", message=f"HTTP {response.status}", **base)
    try:
        links = parse_xrd(response.body) if fmt == "xml" else parse_jrd(response.body)
    except ValueError as exc:
        return HostMeta(status="fail", message=f"invalid host-meta: {exc}", **base)
    bosh = tuple(href for rel, href in links if rel == BOSH_REL and href)
    websocket = tuple(href for rel, href in links if rel == WEBSOCKET_REL and href)
    status: Status = "ok"
    found = f"{len(bosh)} BOSH and {len(websocket)} WebSocket link(s)"
    notes = []
    if not bosh and not websocket:
        status, notes = "warn", ["no XMPP connection links"]
    if cors is None:
        status = "warn"
        notes.append("no Access-Control-Allow-Origin header: browser clients cannot read it")
    plain = [href for href in (*bosh, *websocket) if _plaintext(href)]
    if plain:
        status = "warn"
        notes.append(f"unencrypted endpoint(s): {', '.join(plain)}")
    message = found + (f"; {'; '.join(notes)}" if notes else "")
    return HostMeta(status=status, message=message, bosh=bosh, websocket=websocket,
                    details={"links": [f"{rel} {href}" for rel, href in links]}, **base)


# -- BOSH and WebSocket ----------------------------------------------------------------------


async def probe_bosh(domain: str, url: str, *, resolve: Resolve, timeout: float,
                     context: ssl.SSLContext | None = None) -> Check:
    """Open a BOSH session (XEP-0206) and expect a session id and stream features."""
    rid = int.from_bytes(os.urandom(4), "big") >> 1
    body = (f"<body xmlns='{BOSH_NS}' xmlns:xmpp='urn:xmpp:xbosh' content='text/xml; "
            f"charset=utf-8' to={quoteattr(domain)} rid='{rid}' hold='1' wait='1' ver='1.6' "
            "xml:lang='en' xmpp:version='1.0'/>").encode()
    headers = {"Content-Type": "text/xml; charset=utf-8"}
    try:
        response = await http_request(url, resolve=resolve, timeout=timeout, method="POST",
                                      body=body, headers=headers, context=context)
    except HttpFailure as exc:
        return Check(domain, "web.bosh", "fail", None, f"unreachable: {exc}", url)
    elapsed = response.elapsed_ms
    if response.status != 200:
        return Check(domain, "web.bosh", "fail", elapsed, f"HTTP {response.status}", url)
    try:
        root = ET.fromstring(response.body)
    except ET.ParseError as exc:
        return Check(domain, "web.bosh", "fail", elapsed, f"not a BOSH body: {exc}", url)
    sid = root.get("sid")
    if root.tag != f"{{{BOSH_NS}}}body" or root.get("type") == "terminate" or not sid:
        condition = root.get("condition") or "no session id"
        return Check(domain, "web.bosh", "fail", elapsed,
                     f"no BOSH session: {condition}", url)
    features = [child.tag.rpartition("}")[2] for feats in root
                if feats.tag.endswith("}features") for child in feats]
    terminate = (f"<body xmlns='{BOSH_NS}' rid='{rid + 1}' sid={quoteattr(sid)} "
                 "type='terminate'/>").encode()
    with contextlib.suppress(HttpFailure):  # else the session times out on the server
        await http_request(url, resolve=resolve, timeout=min(timeout, 2.0), method="POST",
                           body=terminate, headers=headers, context=context)
    status: Status = "warn" if _plaintext(url) else "ok"
    message = "session opened" + (f", features: {', '.join(features)}" if features else "")
    if status == "warn":
        message += "; plain HTTP outside loopback"
    return Check(domain, "web.bosh", status, elapsed, message, url,
                 {"features": features, "from": root.get("from")})


async def probe_websocket(domain: str, url: str, *, resolve: Resolve, timeout: float,
                          context: ssl.SSLContext | None = None) -> Check:
    """Upgrade to an RFC 7395 WebSocket and expect an ``<open/>`` and stream features."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    started = time.perf_counter()
    key = base64.b64encode(os.urandom(16)).decode()
    try:
        reader, writer, netloc = await _open(url, resolve, deadline, context)
    except HttpFailure as exc:
        return Check(domain, "web.websocket", "fail", None, f"unreachable: {exc}", url)
    try:
        parts = urlsplit(url)
        request = (f"GET {parts.path or '/'} HTTP/1.1\r\nHost: {netloc}\r\n"
                   "Upgrade: websocket\r\nConnection: Upgrade\r\n"
                   f"Sec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n"
                   "Sec-WebSocket-Protocol: xmpp\r\nOrigin: https://xiot.invalid\r\n\r\n")
        writer.write(request.encode())
        status, headers = await _read_head(reader, deadline)
        if status != 101:
            return Check(domain, "web.websocket", "fail", None,
                         f"no upgrade: HTTP {status}", url)
        expected = base64.b64encode(hashlib.sha1((key + _WS_GUID).encode()).digest()).decode()
        if headers.get("sec-websocket-accept") != expected:
            return Check(domain, "web.websocket", "fail", None,
                         "wrong Sec-WebSocket-Accept in the upgrade answer", url)
        if headers.get("sec-websocket-protocol", "").lower() != "xmpp":
            return Check(domain, "web.websocket", "fail", None,
                         "the server did not agree to the 'xmpp' sub-protocol (RFC 7395)", url)
        writer.write(ws_frame(f"<open xmlns='{FRAMING_NS}' to={quoteattr(domain)} "
                              "version='1.0'/>".encode()))
        opened: ET.Element | None = None
        features: list[str] = []
        for _ in range(8):
            element = ET.fromstring(await read_ws_text(reader, deadline))
            if element.tag == f"{{{FRAMING_NS}}}open":
                opened = element
            elif element.tag == f"{{{FRAMING_NS}}}close" or element.tag.endswith("}error"):
                from xiot.probes.stream import parse_stream_error

                return Check(domain, "web.websocket", "fail", None,
                             f"the server closed the stream: {parse_stream_error(element)}",
                             url)
            elif element.tag.endswith("}features"):
                features = [child.tag.rpartition("}")[2] for child in element]
                break
        elapsed = (time.perf_counter() - started) * 1000
        writer.write(ws_frame(f"<close xmlns='{FRAMING_NS}'/>".encode()))
        writer.write(ws_frame(b"\x03\xe8", opcode=0x8))
    except TimeoutError:
        return Check(domain, "web.websocket", "fail", None,
                     f"no answer within {timeout:g}s", url)
    except (OSError, ValueError, ET.ParseError, asyncio.IncompleteReadError) as exc:
        return Check(domain, "web.websocket", "fail", None,
                     f"broken exchange: {_error_text(exc)}", url)
    finally:
        writer.transport.abort()
    if opened is None:
        return Check(domain, "web.websocket", "fail", elapsed, "no <open/> from the server", url)
    status_: Status = "warn" if _plaintext(url) else "ok"
    message = (f"stream opened (from={opened.get('from')}, version={opened.get('version')})"
               + (f", features: {', '.join(features)}" if features else ""))
    if status_ == "warn":
        message += "; plain ws:// outside loopback"
    return Check(domain, "web.websocket", status_, elapsed, message, url,
                 {"features": features, "from": opened.get("from")})


def ws_frame(payload: bytes, opcode: int = 0x1) -> bytes:
    """One final, masked client frame (RFC 6455 section 5.2)."""
    mask = os.urandom(4)
    size = len(payload)
    if size < 126:
        head = bytes([0x80 | opcode, 0x80 | size])
    elif size < 65536:
        head = bytes([0x80 | opcode, 0x80 | 126]) + size.to_bytes(2, "big")
    else:
        head = bytes([0x80 | opcode, 0x80 | 127]) + size.to_bytes(8, "big")
    return head + mask + bytes(b ^ mask[i % 4] for i, b in enumerate(payload))


async def read_ws_text(reader: asyncio.StreamReader, deadline: float) -> bytes:
    """The payload of the next text message (control frames skipped, fragments joined)."""
    loop = asyncio.get_running_loop()
    message = b""
    for _ in range(64):
        left = max(deadline - loop.time(), 0.001)
        head = await asyncio.wait_for(reader.readexactly(2), left)
        opcode, size = head[0] & 0x0F, head[1] & 0x7F
        if size == 126:
            size = int.from_bytes(await asyncio.wait_for(reader.readexactly(2), left), "big")
        elif size == 127:
            size = int.from_bytes(await asyncio.wait_for(reader.readexactly(8), left), "big")
        if size > MAX_BODY:
            raise ValueError(f"WebSocket frame larger than {MAX_BODY} bytes")
        mask = await asyncio.wait_for(reader.readexactly(4), left) if head[1] & 0x80 else b""
        payload = await asyncio.wait_for(reader.readexactly(size), left)
        if mask:
            payload = bytes(b ^ mask[i % 4] for i, b in enumerate(payload))
        if opcode == 0x8:
            raise ValueError("the server closed the WebSocket")
        if opcode in (0x1, 0x0):
            message += payload
            if head[0] & 0x80:
                return message
    raise ValueError("too many WebSocket frames without a message")


# -- checks ----------------------------------------------------------------------------------


async def web_checks(
    domain: str, *, resolve: Resolve, timeout: float, base: str | None = None,
    context: ssl.SSLContext | None = None,
) -> tuple[Check, ...]:
    """``web.host-meta``, ``web.host-meta-json``, then ``web.bosh``/``web.websocket`` for
    every distinct endpoint either document advertises (probed concurrently)."""
    xml_url, json_url = host_meta_urls(domain, base)
    metas = await asyncio.gather(
        fetch_host_meta(domain, xml_url, "xml", resolve=resolve, timeout=timeout,
                        context=context),
        fetch_host_meta(domain, json_url, "json", resolve=resolve, timeout=timeout,
                        context=context),
    )
    checks = [
        Check(domain, "web.host-meta" + ("-json" if meta.fmt == "json" else ""), meta.status,
              meta.elapsed_ms, meta.message, meta.url, {"cors": meta.cors, **meta.details})
        for meta in metas
    ]
    bosh = list(dict.fromkeys(url for meta in metas for url in meta.bosh))
    websocket = list(dict.fromkeys(url for meta in metas for url in meta.websocket))
    probes = [probe_bosh(domain, url, resolve=resolve, timeout=timeout, context=context)
              for url in bosh[:8]]
    probes += [probe_websocket(domain, url, resolve=resolve, timeout=timeout, context=context)
               for url in websocket[:8]]
    checks += await asyncio.gather(*probes)
    return tuple(checks)
