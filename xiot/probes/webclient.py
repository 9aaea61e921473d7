"""The HTTP and WebSocket client of the probe: aiohttp, with the probe's resolver and limits.

aiohttp does the protocol work (HTTP/1.1 framing, chunked bodies, the WebSocket handshake and
its frames, the ``Sec-WebSocket-Accept`` check).  What stays here is what a probe needs on top:

* **The probe's resolver.**  ``ProbeResolver`` answers aiohttp's look-ups through
  ``xiot.xmpp.dns.lookup_host``, so ``--resolver`` applies to HTTP host names too and a broken
  resolver is reported as it is for SRV look-ups (``ResolverUnreachable``/``ResolverGarbage``).
* **One TLS context per run.**  Building a context from the system trust store costs about
  30 ms of CPU; a ``WebClient`` builds it once (from ``--ca`` when given, which replaces the
  system store as everywhere else in xiot) and every HTTPS and WSS connection of the run uses
  it.
* **Limits on what a probed server can make us read:** header lines, header count, a body of at
  most ``MAX_BODY`` bytes (refused from ``Content-Length`` before reading, and read in bounded
  pieces otherwise, so a chunk that claims gigabytes costs no more than ``MAX_BODY``), no
  decompression (we ask for ``identity``: a compressed body could expand past any cap before
  we see it), WebSocket messages of at most ``MAX_BODY``.
* **Redirects by hand** (at most ``MAX_REDIRECTS``): ``--web-base`` sends the first request to
  another address with the domain in the ``Host`` header, and that header must not follow a
  redirect to another origin; aiohttp would keep it.
* **Connections live as long as one domain's checks** (``for_domain``): a BOSH session and
  its terminate, or host-meta and a BOSH URL on the same host, share a kept-alive connection,
  as a browser's would, which spares the server and us a handshake each; no connection is
  ever shared between two domains, so what one server leaves on a connection cannot spoil
  another domain's verdict.
"""

from __future__ import annotations

import asyncio
import copy
import socket
import ssl
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urljoin, urlsplit

import aiohttp
from aiohttp.abc import AbstractResolver, ResolveResult

from xiot.xmpp.dns import Nameserver, lookup_host

#: Bytes of a body (or of one WebSocket message) we read before giving up on it.
MAX_BODY = 256 * 1024
#: Bytes read from the socket at a time (and aiohttp's buffer before it pauses reading).
READ_CHUNK = 64 * 1024
MAX_HEADER_LINE = 8 * 1024
MAX_HEADERS = 64
MAX_REDIRECTS = 3
ORIGIN = "https://xiot.invalid"
_REDIRECTS = frozenset({301, 302, 303, 307, 308})


class HttpFailure(Exception):
    """An HTTP exchange that could not be completed (connect, TLS, protocol, size, timeout)."""


@dataclass(frozen=True)
class HttpResponse:
    status: int
    #: Header names in lower case.
    headers: Mapping[str, str]
    body: bytes
    url: str
    elapsed_ms: float


def https_context(ca: Path | str | None = None) -> ssl.SSLContext:
    """A verifying client context: ``ca`` replaces the system trust store when given."""
    return ssl.create_default_context(cafile=str(ca) if ca else None)


class ProbeResolver(AbstractResolver):
    """aiohttp's host look-ups, answered by the probe's own DNS code and nameservers."""

    def __init__(self, nameservers: Sequence[Nameserver], timeout: float) -> None:
        self._nameservers = tuple(nameservers)
        self._timeout = timeout

    async def resolve(self, host: str, port: int = 0,
                      family: socket.AddressFamily = socket.AF_UNSPEC) -> list[ResolveResult]:
        found = await lookup_host(host, self._nameservers, timeout=self._timeout)
        results: list[ResolveResult] = []
        for address in found.addresses:
            kind = socket.AF_INET6 if ":" in address else socket.AF_INET
            if family in (socket.AF_UNSPEC, kind):
                results.append({"hostname": host, "host": address, "port": port,
                                "family": kind, "proto": 0, "flags": socket.AI_NUMERICHOST})
        if not results:
            why = "; ".join(found.errors) or "no A or AAAA records"
            raise OSError(f"{host} has no addresses ({why})")
        return results

    async def close(self) -> None:
        """Nothing to release: every look-up is a query of its own."""


class WebClient:
    """The probe's HTTP client: one TLS context and resolver per run, connections per domain.

    Make one per run, then ``async with client.for_domain() as http`` for each domain (or use
    the run's client itself as ``async with WebClient(...) as http``).
    """

    def __init__(self, nameservers: Sequence[Nameserver], timeout: float,
                 ca: Path | str | None = None) -> None:
        self.timeout = timeout
        self.context = https_context(ca)
        self._resolver = ProbeResolver(nameservers, timeout)
        self._session: aiohttp.ClientSession | None = None

    def for_domain(self) -> WebClient:
        """A client for one domain's checks: this run's TLS context and resolver, its own
        connections (open it with ``async with``)."""
        twin = copy.copy(self)
        twin._session = None
        return twin

    async def __aenter__(self) -> WebClient:
        connector = aiohttp.TCPConnector(ssl=self.context, resolver=self._resolver, limit=0,
                                         keepalive_timeout=self.timeout, use_dns_cache=True)
        self._session = aiohttp.ClientSession(
            connector=connector, cookie_jar=aiohttp.DummyCookieJar(), trust_env=False,
            auto_decompress=False, read_bufsize=READ_CHUNK, max_line_size=MAX_HEADER_LINE,
            max_field_size=MAX_HEADER_LINE, max_headers=MAX_HEADERS,
            timeout=aiohttp.ClientTimeout(total=None),
            headers={"User-Agent": "xiot-probe", "Accept": "*/*", "Origin": ORIGIN,
                     "Accept-Encoding": "identity"})
        return self

    async def __aexit__(self, *exc: object) -> None:
        session, self._session = self._session, None
        if session is not None:
            await session.close()

    @property
    def session(self) -> aiohttp.ClientSession:
        if self._session is None:
            raise RuntimeError("WebClient is not open (use 'async with')")
        return self._session

    async def request(self, url: str, *, method: str = "GET", body: bytes = b"",
                      headers: Mapping[str, str] | None = None, host_header: str | None = None,
                      timeout: float | None = None) -> HttpResponse:
        """One request (and its redirects); ``HttpFailure`` for anything but an answer."""
        limit = self.timeout if timeout is None else timeout
        started = time.perf_counter()
        try:
            async with asyncio.timeout(limit):
                for _ in range(MAX_REDIRECTS + 1):
                    sent = dict(headers or {})
                    if host_header:
                        sent["Host"] = host_header
                    status, answer, content = await self._exchange(url, method, body, sent)
                    location = answer.get("location")
                    if status not in _REDIRECTS or not location:
                        return HttpResponse(status, answer, content, url,
                                            (time.perf_counter() - started) * 1000)
                    url, host_header = urljoin(url, location), None
        except TimeoutError:
            raise HttpFailure(f"no answer within {limit:g}s") from None
        except aiohttp.ClientError as exc:
            raise HttpFailure(error_text(exc)) from None
        except (OSError, ValueError) as exc:  # e.g. a Location header that is no URL
            raise HttpFailure(str(exc) or type(exc).__name__) from None
        raise HttpFailure(f"more than {MAX_REDIRECTS} redirects")

    async def _exchange(self, url: str, method: str, body: bytes, headers: dict[str, str]
                        ) -> tuple[int, dict[str, str], bytes]:
        _check_url(url, ("http", "https"))
        async with self.session.request(method, url, data=body or None, headers=headers,
                                        allow_redirects=False) as response:
            answer = {key.lower(): value for key, value in response.headers.items()}
            return response.status, answer, await read_capped(response)

    async def websocket(self, url: str, *, timeout: float | None = None
                        ) -> aiohttp.ClientWebSocketResponse:
        """Open an RFC 7395 WebSocket (sub-protocol ``xmpp``); ``HttpFailure`` if refused."""
        _check_url(url, ("ws", "wss", "http", "https"))
        limit = self.timeout if timeout is None else timeout
        try:
            async with asyncio.timeout(limit):
                return await self.session.ws_connect(
                    url, protocols=("xmpp",), origin=ORIGIN, autoclose=False, autoping=True,
                    max_msg_size=MAX_BODY, timeout=aiohttp.ClientWSTimeout(ws_close=1.0))
        except TimeoutError:
            raise HttpFailure(f"no answer within {limit:g}s") from None
        except aiohttp.WSServerHandshakeError as exc:
            if exc.status and exc.status != 101:
                raise HttpFailure(f"no upgrade: HTTP {exc.status}") from None
            raise HttpFailure(f"bad upgrade answer: {exc.message}") from None
        except aiohttp.ClientError as exc:
            raise HttpFailure(error_text(exc)) from None
        except (OSError, ValueError) as exc:
            raise HttpFailure(str(exc) or type(exc).__name__) from None


async def read_capped(response: aiohttp.ClientResponse) -> bytes:
    """The body, or ``HttpFailure`` once it is known to exceed ``MAX_BODY``."""
    if response.content_length is not None and response.content_length > MAX_BODY:
        response.close()
        raise HttpFailure(f"body larger than {MAX_BODY} bytes "
                          f"(Content-Length {response.content_length})")
    body = bytearray()
    while True:
        piece = await response.content.read(READ_CHUNK)
        if not piece:
            return bytes(body)
        body += piece
        if len(body) > MAX_BODY:
            response.close()  # the rest is never read: the connection cannot be reused
            raise HttpFailure(f"body larger than {MAX_BODY} bytes")


def _check_url(url: str, schemes: tuple[str, ...]) -> None:
    """``HttpFailure`` for a URL we will not fetch (a server wrote it, so it may be anything)."""
    try:
        parts = urlsplit(url)
        usable = parts.scheme in schemes and bool(parts.hostname) and (parts.port or 1) > 0
    except ValueError:
        usable = False
    if not usable:
        raise HttpFailure(f"unsupported URL {url!r}")


def error_text(exc: BaseException) -> str:
    """One line an operator understands, for the errors an HTTP exchange can end in."""
    if isinstance(exc, aiohttp.ClientConnectorCertificateError):
        cert_error: Any = exc.certificate_error
        detail = getattr(cert_error, "verify_message", None) or str(cert_error)
        return f"TLS certificate of {exc.host} not accepted: {detail}"
    if isinstance(exc, aiohttp.ClientConnectorSSLError | aiohttp.ClientSSLError):
        return f"TLS failed: {getattr(exc, 'os_error', exc)}"
    if isinstance(exc, aiohttp.ClientConnectorError):
        cause = exc.os_error
        if isinstance(cause, ConnectionRefusedError):
            return "connection refused"
        if cause.strerror:
            return cause.strerror.lower()
        return str(cause) or "cannot connect"
    if isinstance(exc, aiohttp.ServerDisconnectedError):
        return "the server closed the connection mid-answer"
    if isinstance(exc, aiohttp.ClientPayloadError):
        return f"broken body: {exc}"
    if isinstance(exc, aiohttp.ClientResponseError):
        return f"not a valid HTTP answer: {exc.message}"
    return str(exc) or type(exc).__name__
