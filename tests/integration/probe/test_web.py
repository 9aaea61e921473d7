"""The probe's HTTP side against servers that misbehave on purpose, all on 127.0.0.1.

A small asyncio server answers each path with canned bytes (a chunk that claims a gigabyte and
never ends, a DTD in a BOSH body, a redirect), an HTTPS server with a private CA checks that
the TLS context is built once per run and that ``--ca`` applies, and the probe world's DNS
server checks that HTTP host names go to ``--resolver``.
"""

from __future__ import annotations

import asyncio
import ssl
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import replace
from pathlib import Path

import pytest

from tests.probe_world import World
from xiot.lab.ca import CertificateAuthority, CertSpec, write_pem
from xiot.probes import web, webclient
from xiot.probes.runner import ProbeOptions, probe_many
from xiot.probes.webclient import MAX_BODY, WebClient
from xiot.xmpp.dns import parse_resolver

pytestmark = pytest.mark.integration

LAUGHS = (b"<?xml version='1.0'?><!DOCTYPE lolz [<!ENTITY lol 'lol'>"
          b"<!ENTITY lol2 '&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;'>]>"
          b"<body xmlns='http://jabber.org/protocol/httpbind' sid='&lol2;'/>")
XRD = (b"<XRD xmlns='http://docs.oasis-open.org/ns/xri/xrd-1.0'>"
       b"<Link rel='urn:xmpp:alt-connections:xbosh' href='https://x.test/bosh'/></XRD>")


def _answer(status: str, body: bytes, *headers: str) -> bytes:
    head = [f"HTTP/1.1 {status}", f"Content-Length: {len(body)}", "Connection: close",
            "Access-Control-Allow-Origin: *", *headers]
    return ("\r\n".join(head) + "\r\n\r\n").encode() + body


class Canned:
    """Answers by path; remembers the Host header of every request and the bytes it sent."""

    def __init__(self) -> None:
        self.hosts: list[tuple[str, str]] = []
        self.sent = 0

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            head = (await reader.readuntil(b"\r\n\r\n")).decode("latin-1")
            path = head.split(" ", 2)[1]
            host = next((line.split(":", 1)[1].strip() for line in head.split("\r\n")
                         if line.lower().startswith("host:")), "")
            self.hosts.append((path, host))
            await self.respond(path, writer)
        except (ConnectionError, asyncio.IncompleteReadError):
            pass
        finally:
            writer.transport.abort()

    async def respond(self, path: str, writer: asyncio.StreamWriter) -> None:
        if path == "/endless-chunk":
            # One chunk that claims 1 GiB, then data until the client stops reading (bounded).
            writer.write(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n40000000\r\n")
            piece = b"x" * 65536
            for _ in range(16384):  # at most 1 GiB, in practice a few hundred KiB
                writer.write(piece)
                self.sent += len(piece)
                await writer.drain()
        elif path == "/huge-length":
            writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 10000000000\r\n\r\nxx")
        elif path == "/laughs":
            writer.write(_answer("200 OK", LAUGHS))
        elif path.startswith("/badlinks/"):
            links = "".join(f"<Link rel='urn:xmpp:alt-connections:{rel}' href='{href}'/>"
                            for rel, href in (("xbosh", "http://[bad/bosh"),
                                              ("websocket", "ws://127.0.0.1:99999/ws")))
            document = f"<XRD xmlns='http://docs.oasis-open.org/ns/xri/xrd-1.0'>{links}</XRD>"
            writer.write(_answer("200 OK", document.encode()))
        elif path == "/dtd-host-meta":
            writer.write(_answer("200 OK", b"<!DOCTYPE XRD>" + XRD))
        elif path.startswith("/redirect"):
            writer.write(_answer("302 Found", b"", f"Location: /target{path[9:]}"))
        else:
            writer.write(_answer("200 OK", XRD))
        await writer.drain()


@asynccontextmanager
async def serving(handler: Callable, context: ssl.SSLContext | None = None
                  ) -> AsyncIterator[int]:
    server = await asyncio.start_server(handler, "127.0.0.1", 0, ssl=context)
    try:
        yield server.sockets[0].getsockname()[1]
    finally:
        server.close()


def run(coroutine):  # type: ignore[no-untyped-def]
    return asyncio.run(asyncio.wait_for(coroutine, 30))


def test_a_chunk_claiming_a_gigabyte_is_cut_at_the_body_cap() -> None:
    canned = Canned()

    async def go() -> str:
        async with serving(canned.handle) as port, WebClient((), 10.0) as client:
            try:
                await client.request(f"http://127.0.0.1:{port}/endless-chunk")
            except webclient.HttpFailure as exc:
                return str(exc)
            return "accepted"

    message = run(go())
    assert f"larger than {MAX_BODY} bytes" in message
    assert canned.sent < 64 * MAX_BODY  # reading stopped; the server was not drained dry


def test_a_huge_content_length_is_refused_before_reading() -> None:
    async def go() -> str:
        async with serving(Canned().handle) as port, WebClient((), 5.0) as client:
            with pytest.raises(webclient.HttpFailure) as info:
                await client.request(f"http://127.0.0.1:{port}/huge-length")
            return str(info.value)

    assert "Content-Length 10000000000" in run(go())


def test_a_dtd_in_a_bosh_body_or_host_meta_is_refused() -> None:
    async def go() -> tuple:
        async with serving(Canned().handle) as port, WebClient((), 5.0) as client:
            base = f"http://127.0.0.1:{port}"
            bosh = await web.probe_bosh("x.test", f"{base}/laughs", client=client)
            meta = await web.fetch_host_meta("x.test", f"{base}/dtd-host-meta", "xml",
                                             client=client)
            return bosh, meta

    bosh, meta = run(go())
    assert bosh.status == "fail" and "DTD" in bosh.message, bosh.message
    assert meta.status == "fail" and "DTD" in meta.message, meta.message


def test_links_that_are_not_urls_fail_their_checks_without_stopping_the_probe() -> None:
    async def go() -> list:
        async with serving(Canned().handle) as port, WebClient((), 5.0) as client:
            return list(await web.web_checks("x.test", client=client,
                                             base=f"http://127.0.0.1:{port}/badlinks"))

    found = {(c.id, c.endpoint): c for c in run(go())}
    assert found[("web.bosh", "http://[bad/bosh")].status == "fail"
    assert found[("web.websocket", "ws://127.0.0.1:99999/ws")].status == "fail"
    assert "unsupported URL" in found[("web.bosh", "http://[bad/bosh")].message


def test_the_host_override_does_not_follow_a_redirect() -> None:
    canned = Canned()

    async def go() -> None:
        async with serving(canned.handle) as port, WebClient((), 5.0) as client:
            response = await client.request(f"http://127.0.0.1:{port}/redirect-1",
                                            host_header="x.test")
            assert response.status == 200 and response.url.endswith("/target-1")

    run(go())
    assert canned.hosts[0] == ("/redirect-1", "x.test")
    assert canned.hosts[1][0] == "/target-1" and canned.hosts[1][1].startswith("127.0.0.1")


# -- HTTPS: one TLS context per run, --ca applies ------------------------------------------


@pytest.fixture(scope="module")
def https(tmp_path_factory: pytest.TempPathFactory) -> tuple[ssl.SSLContext, Path]:
    directory = tmp_path_factory.mktemp("https")
    ca = CertificateAuthority.create(name="probe web test CA")
    cert, key = ca.issue(CertSpec("127.0.0.1", ip_addresses=("127.0.0.1",)))
    write_pem(directory / "server.crt", directory / "server.key", cert, key)
    ca_file = directory / "ca.pem"
    ca.write(ca_file, directory / "ca.key")
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(directory / "server.crt", directory / "server.key")
    return context, ca_file


def _web_only(world: World, port: int, ca: Path | None) -> ProbeOptions:
    return ProbeOptions(resolver=parse_resolver(world.resolver), timeout=5.0, ca=ca,
                        only=("web.host-meta",), web_base=f"https://127.0.0.1:{port}",
                        kinds=("client",))


def _probe(domains: list[str], options: ProbeOptions) -> dict[str, list]:
    async def go() -> dict[str, list]:
        return {r.domain: list(r.checks) async for r in probe_many(domains, options)}

    return run(go())


def test_https_context_is_built_once_per_run(probe_world: World, https, monkeypatch) -> None:
    server_context, ca_file = https
    built: list[object] = []
    real = ssl.create_default_context

    def counting(*args, **kwargs):  # type: ignore[no-untyped-def]
        built.append(args)
        return real(*args, **kwargs)

    monkeypatch.setattr(ssl, "create_default_context", counting)

    async def go() -> dict[str, list]:
        async with serving(Canned().handle, server_context) as port:
            options = _web_only(probe_world, port, ca_file)
            return {r.domain: list(r.checks)
                    async for r in probe_many(["xiot.test", "web.test", "expired.test"],
                                              options)}

    results = run(go())
    assert {c.status for checks in results.values() for c in checks} == {"ok"}
    assert len(built) == 1  # six HTTPS requests, one context


def test_ca_option_applies_to_https(probe_world: World, https) -> None:
    server_context, ca_file = https

    async def go(ca: Path | None) -> list:
        async with serving(Canned().handle, server_context) as port:
            options = replace(_web_only(probe_world, port, ca), only=("web.host-meta",))
            return [c async for r in probe_many(["xiot.test"], options) for c in r.checks]

    trusted = run(go(ca_file))
    assert [c.status for c in trusted] == ["ok"], trusted
    untrusted = run(go(None))  # the system store does not know the test CA
    assert untrusted[0].status == "skip" and "not accepted" in untrusted[0].message


def test_http_host_names_are_asked_of_the_resolver(probe_world: World) -> None:
    before = len(probe_world.dns.queries)

    async def go() -> list:
        async with serving(Canned().handle) as port:
            options = replace(_web_only(probe_world, port, None),
                              web_base=f"http://web.test:{port}")
            return [c async for r in probe_many(["xiot.test"], options) for c in r.checks]

    checks = run(go())
    assert checks[0].status == "ok", checks
    asked = {(q.name, q.rtype) for q in probe_world.dns.queries[before:]}
    assert ("web.test", "A") in asked
