"""HTTP endpoints of an XMPP domain: host-meta (XEP-0156), BOSH (XEP-0206), WebSocket (RFC 7395).

Browser clients and many gateways never look at SRV records: they read the domain's host-meta
and connect over BOSH or WebSocket.  A host-meta that lists a dead or wrongly configured URL
breaks them while every SRV check passes, so the probe fetches both host-meta forms, then
opens a real XMPP stream over each advertised endpoint and reads the server's answer.

The HTTP and WebSocket work is aiohttp's, through ``xiot.probes.webclient.WebClient`` (one per
probe run: the probe's resolver, one TLS context, bounded reads).  Every XML document a server
sends is parsed with ``xiot.xmlsafe``, which refuses DTDs and entities.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import ipaddress
import json
import os
import time
import xml.etree.ElementTree as ET
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit
from xml.sax.saxutils import quoteattr

import aiohttp

from xiot import xmlsafe
from xiot.probes.report import Check, Status
from xiot.probes.webclient import HttpFailure, WebClient, error_text

XRD_NS = "http://docs.oasis-open.org/ns/xri/xrd-1.0"
BOSH_REL = "urn:xmpp:alt-connections:xbosh"
WEBSOCKET_REL = "urn:xmpp:alt-connections:websocket"
FRAMING_NS = "urn:ietf:params:xml:ns:xmpp-framing"
BOSH_NS = "http://jabber.org/protocol/httpbind"
#: Endpoints of each kind probed per domain, whatever host-meta lists.
MAX_ENDPOINTS = 8
#: WebSocket messages read while waiting for the stream features.
MAX_WS_MESSAGES = 8


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


def _is_ip(host: str) -> bool:
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return False
    return True


@functools.lru_cache(maxsize=1024)
def _plaintext(url: str) -> bool:
    """``http:``/``ws:`` to anything but loopback exposes the stream (and passwords)."""
    try:
        parts = urlsplit(url)
        host = parts.hostname or ""
    except ValueError:
        return False  # not a URL at all: its probe fails and says so
    if parts.scheme not in ("http", "ws"):
        return False
    return not (host == "localhost" or (_is_ip(host) and ipaddress.ip_address(host).is_loopback))


# -- host-meta -------------------------------------------------------------------------------


def host_meta_urls(domain: str, base: str | None = None) -> tuple[str, str]:
    """The XML and JSON host-meta URLs: ``https://DOMAIN`` unless ``base`` overrides it."""
    root = (base or f"https://{domain}").rstrip("/")
    return f"{root}/.well-known/host-meta", f"{root}/.well-known/host-meta.json"


def parse_xrd(body: bytes) -> list[tuple[str, str]]:
    """``(rel, href)`` of every Link in an XRD document; ``ValueError`` if not XRD.

    A DTD or entity declaration is refused (``xmlsafe.UnsafeXml``, a ``ValueError``).
    """
    root = xmlsafe.fromstring(body)
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


async def fetch_host_meta(domain: str, url: str, fmt: str, *, client: WebClient) -> HostMeta:
    """Fetch and judge one host-meta document (``fmt`` is ``xml`` or ``json``).

    A URL that is not ``https://DOMAIN`` (``--web-base``) gets the domain as ``Host``.
    """
    host = None if url.startswith(f"https://{domain}/") else domain
    try:
        response = await client.request(url, host_header=host)
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
    status, notes = _judge_links(bosh, websocket, cors)
    found = f"{len(bosh)} BOSH and {len(websocket)} WebSocket link(s)"
    message = found + (f"; {'; '.join(notes)}" if notes else "")
    return HostMeta(status=status, message=message, bosh=bosh, websocket=websocket,
                    details={"links": [f"{rel} {href}" for rel, href in links]}, **base)


def _judge_links(bosh: tuple[str, ...], websocket: tuple[str, ...], cors: str | None
                 ) -> tuple[Status, list[str]]:
    """``warn`` for what breaks or exposes browser clients; a ``note`` for no XMPP links
    (a host-meta may serve other protocols only, and clients then use SRV)."""
    status: Status = "ok"
    notes: list[str] = []
    if not bosh and not websocket:
        status, notes = "note", ["no XMPP connection links"]
    if cors is None:
        status = "warn"
        notes.append("no Access-Control-Allow-Origin header: browser clients cannot read it")
    plain = [href for href in (*bosh, *websocket) if _plaintext(href)]
    if plain:
        status = "warn"
        notes.append(f"unencrypted endpoint(s): {', '.join(plain)}")
    return status, notes


# -- BOSH and WebSocket ----------------------------------------------------------------------


async def probe_bosh(domain: str, url: str, *, client: WebClient) -> Check:
    """Open a BOSH session (XEP-0206) and expect a session id and stream features."""
    rid = int.from_bytes(os.urandom(4), "big") >> 1
    body = (f"<body xmlns='{BOSH_NS}' xmlns:xmpp='urn:xmpp:xbosh' content='text/xml; "
            f"charset=utf-8' to={quoteattr(domain)} rid='{rid}' hold='1' wait='1' ver='1.6' "
            "xml:lang='en' xmpp:version='1.0'/>").encode()
    headers = {"Content-Type": "text/xml; charset=utf-8"}
    try:
        response = await client.request(url, method="POST", body=body, headers=headers)
    except HttpFailure as exc:
        return Check(domain, "web.bosh", "fail", None, f"unreachable: {exc}", url)
    elapsed = response.elapsed_ms
    if response.status != 200:
        return Check(domain, "web.bosh", "fail", elapsed, f"HTTP {response.status}", url)
    try:
        root = xmlsafe.fromstring(response.body)
    except xmlsafe.XmlError as exc:
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
        await client.request(url, method="POST", body=terminate, headers=headers,
                             timeout=min(client.timeout, 2.0))
    status: Status = "warn" if _plaintext(url) else "ok"
    message = "session opened" + (f", features: {', '.join(features)}" if features else "")
    if status == "warn":
        message += "; plain HTTP outside loopback"
    return Check(domain, "web.bosh", status, elapsed, message, url,
                 {"features": features, "from": root.get("from")})


async def probe_websocket(domain: str, url: str, *, client: WebClient) -> Check:
    """Upgrade to an RFC 7395 WebSocket and expect an ``<open/>`` and stream features."""
    started = time.perf_counter()
    try:
        ws = await client.websocket(url)
    except HttpFailure as exc:
        return Check(domain, "web.websocket", "fail", None, f"unreachable: {exc}", url)
    try:
        if (ws.protocol or "").lower() != "xmpp":
            return Check(domain, "web.websocket", "fail", None,
                         "the server did not agree to the 'xmpp' sub-protocol (RFC 7395)", url)
        async with asyncio.timeout(client.timeout):
            await ws.send_str(f"<open xmlns='{FRAMING_NS}' to={quoteattr(domain)} "
                              "version='1.0'/>")
            opened, features, closed = await _read_opening(ws)
        elapsed = (time.perf_counter() - started) * 1000
    except TimeoutError:
        return Check(domain, "web.websocket", "fail", None,
                     f"no answer within {client.timeout:g}s", url)
    except (ValueError, aiohttp.ClientError, ConnectionError) as exc:
        text = exc if isinstance(exc, ValueError) else error_text(exc)
        return Check(domain, "web.websocket", "fail", None, f"broken exchange: {text}", url)
    finally:
        await _close_websocket(ws)
    if closed is not None:
        return Check(domain, "web.websocket", "fail", None,
                     f"the server closed the stream: {closed}", url)
    if opened is None:
        return Check(domain, "web.websocket", "fail", elapsed, "no <open/> from the server", url)
    status: Status = "warn" if _plaintext(url) else "ok"
    message = (f"stream opened (from={opened.get('from')}, version={opened.get('version')})"
               + (f", features: {', '.join(features)}" if features else ""))
    if status == "warn":
        message += "; plain ws:// outside loopback"
    return Check(domain, "web.websocket", status, elapsed, message, url,
                 {"features": features, "from": opened.get("from")})


async def _read_opening(ws: aiohttp.ClientWebSocketResponse
                        ) -> tuple[ET.Element | None, list[str], str | None]:
    """The server's ``<open/>``, its feature names and, if it closed instead, why."""
    from xiot.probes.stream import parse_stream_error

    opened: ET.Element | None = None
    for _ in range(MAX_WS_MESSAGES):
        message = await ws.receive()
        if message.type in (aiohttp.WSMsgType.CLOSE, aiohttp.WSMsgType.CLOSED,
                            aiohttp.WSMsgType.CLOSING):
            raise ValueError("the server closed the WebSocket")
        if message.type == aiohttp.WSMsgType.ERROR:
            raise ValueError(f"WebSocket error: {message.data}")
        if message.type != aiohttp.WSMsgType.TEXT:
            continue
        element = xmlsafe.fromstring(message.data)
        if element.tag == f"{{{FRAMING_NS}}}open":
            opened = element
        elif element.tag == f"{{{FRAMING_NS}}}close" or element.tag.endswith("}error"):
            return opened, [], str(parse_stream_error(element))
        elif element.tag.endswith("}features"):
            return opened, [child.tag.rpartition("}")[2] for child in element], None
    return opened, [], None


async def _close_websocket(ws: aiohttp.ClientWebSocketResponse) -> None:
    """Say goodbye (RFC 7395 ``<close/>``, then a close frame) without waiting long."""
    with contextlib.suppress(Exception):
        async with asyncio.timeout(1.0):
            if not ws.closed:
                await ws.send_str(f"<close xmlns='{FRAMING_NS}'/>")
            await ws.close()


# -- checks ----------------------------------------------------------------------------------


async def web_checks(domain: str, *, client: WebClient, base: str | None = None,
                     bosh: bool = True, websocket: bool = True) -> tuple[Check, ...]:
    """``web.host-meta``, ``web.host-meta-json``, then ``web.bosh``/``web.websocket`` for
    every distinct endpoint either document advertises (probed concurrently; ``bosh`` or
    ``websocket`` False leaves those out)."""
    xml_url, json_url = host_meta_urls(domain, base)
    metas = await asyncio.gather(
        fetch_host_meta(domain, xml_url, "xml", client=client),
        fetch_host_meta(domain, json_url, "json", client=client),
    )
    checks = [
        Check(domain, "web.host-meta" + ("-json" if meta.fmt == "json" else ""), meta.status,
              meta.elapsed_ms, meta.message, meta.url, {"cors": meta.cors, **meta.details})
        for meta in metas
    ]
    bosh_urls = list(dict.fromkeys(url for meta in metas for url in meta.bosh)) if bosh else []
    ws_urls = (list(dict.fromkeys(url for meta in metas for url in meta.websocket))
               if websocket else [])
    probes = [probe_bosh(domain, url, client=client) for url in bosh_urls[:MAX_ENDPOINTS]]
    probes += [probe_websocket(domain, url, client=client) for url in ws_urls[:MAX_ENDPOINTS]]
    checks += await asyncio.gather(*probes)
    return tuple(checks)
