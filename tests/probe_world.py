"""A small Internet on loopback for probe tests: DNS, several Prosody servers, a web server.

One session-scoped fixture builds it: extra labs whose certificates are expired, self-signed,
for the wrong name and otherName-only (the session lab serves the valid ``xiot.test``), an
authoritative DNS server pointing the test domains' SRV records at those labs' loopback ports,
and a web server answering host-meta by Host header.  Every address is 127.0.0.1.
"""

from __future__ import annotations

import datetime as dt
import http.server
import json
import socket
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar

import pytest

from xiot.lab import manager
from xiot.lab.ca import CertSpec
from xiot.lab.dns import LabDnsServer, Record

XRD = """<?xml version='1.0' encoding='utf-8'?>
<XRD xmlns='http://docs.oasis-open.org/ns/xri/xrd-1.0'>
  <Link rel="urn:xmpp:alt-connections:xbosh" href="{bosh}"/>
  <Link rel="urn:xmpp:alt-connections:websocket" href="{ws}"/>
</XRD>"""


@dataclass(frozen=True)
class World:
    resolver: str  # "127.0.0.1:PORT" for --resolver
    ca: Path  # every lab CA in one bundle, for --ca
    web_base: str  # for --web-base
    labs: dict[str, manager.Lab]
    closed_port: int
    dns: LabDnsServer


def closed_port() -> int:
    """A loopback port nothing listens on (bound, then released)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _extra_labs() -> dict[str, manager.Lab]:
    now = dt.datetime.now(dt.UTC)
    specs = {
        "expired": dict(cert=CertSpec("expired.test", dns_names=("expired.test",),
                                      not_before=now - dt.timedelta(days=30),
                                      not_after=now - dt.timedelta(days=2))),
        "selfsigned": dict(cert=CertSpec("selfsigned.test", dns_names=("selfsigned.test",)),
                           self_signed=True),
        "wrongname": dict(cert=CertSpec("other.test", dns_names=("other.test",))),
        "xaddr": dict(cert=CertSpec("xaddr.test", xmpp_addrs=("xaddr.test",),
                                    srv_names=("_xmpp-client.xaddr.test",
                                               "_xmpp-server.xaddr.test"))),
    }
    labs = {}
    for name, extra in specs.items():
        lab, _ = manager.up(name=f"probe-{name}", devices=0, domain=f"{name}.test",
                            write_profile=False, **extra)  # type: ignore[arg-type]
        labs[name] = lab
    return labs


def _srv(domain: str, lab: manager.Lab, server: bool = True) -> list[Record]:
    host = f"xmpp.{domain}."
    records = [
        Record(f"_xmpp-client._tcp.{domain}", "SRV", f"5 0 {lab.ports['c2s']} {host}"),
        Record(f"_xmpps-client._tcp.{domain}", "SRV", f"5 0 {lab.ports['c2s_direct']} {host}"),
        Record(f"xmpp.{domain}", "A", "127.0.0.1"),
    ]
    if server:
        records.append(Record(f"_xmpp-server._tcp.{domain}", "SRV",
                              f"5 0 {lab.ports['s2s']} {host}"))
    return records


def _records(labs: dict[str, manager.Lab], closed: int, web_port: int) -> list[Record]:
    records = _srv("xiot.test", labs["valid"])
    for name in ("expired", "selfsigned", "wrongname"):
        records += _srv(f"{name}.test", labs[name])
    records += _srv("xaddr.test", labs["xaddr"])
    valid = labs["valid"]
    records += [
        Record("_xmpp-client._tcp.closed.test", "SRV", f"5 0 {closed} xmpp.closed.test."),
        Record("xmpp.closed.test", "A", "127.0.0.1"),
        Record("_xmpp-client._tcp.disabled.test", "SRV", "0 0 0 ."),
        Record("_xmpp-server._tcp.disabled.test", "SRV", "0 0 0 ."),
        Record("nosrv.test", "A", "127.0.0.1"),
        Record("_xmpp-client._tcp.alias.test", "SRV", f"5 0 {valid.ports['c2s']} xmpp.xiot.test."),
        Record("_xmpp-client._tcp.cname.test", "SRV", f"5 0 {valid.ports['c2s']} srv.cname.test."),
        Record("srv.cname.test", "CNAME", "xmpp.xiot.test."),
        Record("web.test", "A", "127.0.0.1"),
        # Direct TLS advertised on a STARTTLS port: the handshake must fail.
        Record("_xmpps-client._tcp.plainport.test", "SRV",
               f"5 0 {valid.ports['c2s']} xmpp.xiot.test."),
    ]
    # 100 domains for the benchmark, all served by the valid lab's c2s port.
    for i in range(100):
        domain = f"d{i:03d}.bench.test"
        records += [Record(f"_xmpp-client._tcp.{domain}", "SRV",
                           f"5 0 {valid.ports['c2s']} xmpp.xiot.test.")]
    return records


class _HostMeta(http.server.BaseHTTPRequestHandler):
    """host-meta by Host header: good for xiot.test, broken for web.test, 404 otherwise."""

    documents: ClassVar[dict[tuple[str, str], tuple[bytes, dict[str, str]]]] = {}

    def do_GET(self) -> None:
        host = (self.headers.get("Host") or "").split(":")[0]
        found = self.documents.get((host, self.path))
        if found is None:
            self.send_response(404)
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        body, headers = found
        self.send_response(200)
        for key, value in headers.items():
            self.send_header(key, value)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        pass


def _web_documents(valid: manager.Lab, closed: int) -> dict:
    http = f"127.0.0.1:{valid.ports['http']}"
    bosh, ws = f"http://{http}/http-bind", f"ws://{http}/xmpp-websocket"
    cors = {"Access-Control-Allow-Origin": "*"}
    jrd = {"links": [{"rel": "urn:xmpp:alt-connections:xbosh", "href": bosh},
                     {"rel": "urn:xmpp:alt-connections:websocket", "href": ws}]}
    broken = {"links": [{"rel": "urn:xmpp:alt-connections:xbosh",
                         "href": f"http://127.0.0.1:{closed}/http-bind"},
                        {"rel": "urn:xmpp:alt-connections:websocket",
                         "href": f"ws://{http}/no-websocket-here"}]}
    return {
        ("xiot.test", "/.well-known/host-meta"): (XRD.format(bosh=bosh, ws=ws).encode(), cors),
        ("xiot.test", "/.well-known/host-meta.json"): (json.dumps(jrd).encode(), cors),
        ("web.test", "/.well-known/host-meta"): (b"<XRD><Link", {}),
        ("web.test", "/.well-known/host-meta.json"): (json.dumps(broken).encode(), {}),
    }


@pytest.fixture(scope="session")
def probe_world(lab, tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    """The loopback world every probe test runs against (built once per session)."""
    labs = {"valid": lab, **_extra_labs()}
    closed = closed_port()
    _HostMeta.documents = _web_documents(lab, closed)
    web = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _HostMeta)
    thread = threading.Thread(target=web.serve_forever, daemon=True)
    thread.start()
    dns = LabDnsServer(_records(labs, closed, web.server_address[1]), zones=["test"])
    host, port = dns.start()
    bundle = tmp_path_factory.mktemp("probe") / "ca-bundle.pem"
    bundle.write_bytes(b"".join(Path(item.ca_file).read_bytes() for item in labs.values()))
    try:
        yield World(f"{host}:{port}", bundle, f"http://127.0.0.1:{web.server_address[1]}",
                    labs, closed, dns)
    finally:
        dns.stop()
        web.shutdown()
        web.server_close()
        for name in labs:
            if name != "valid":
                manager.down(f"probe-{name}")
