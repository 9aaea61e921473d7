"""The lab's DNS server as a process of its own (``xiot lab up --dns``).

``python -m xiot.lab.dnsd RECORDS.json PORTFILE [PORT]`` serves the records (a JSON list of
``[name, type, value]``) on PORT if it is free (a restarted lab asks for the port it had), else
on a free loopback port, writes the port to PORTFILE once it answers,
and runs until SIGTERM.  A separate process lets the lab's DNS outlive the ``xiot lab up`` that
started it, like the lab's Prosody.
"""

from __future__ import annotations

import json
import signal
import sys
import threading
from pathlib import Path

from xiot.lab.dns import LabDnsServer, Record


def records_for(domain: str, host: str, ports: dict[str, int]) -> list[list[str]]:
    """SRV records for c2s (STARTTLS and XEP-0368 direct TLS) and s2s, and the addresses."""
    target = f"xmpp.{domain}."
    return [
        [f"_xmpp-client._tcp.{domain}", "SRV", f"0 5 {ports['c2s']} {target}"],
        [f"_xmpps-client._tcp.{domain}", "SRV", f"0 5 {ports['c2s_direct']} {target}"],
        [f"_xmpp-server._tcp.{domain}", "SRV", f"0 5 {ports['s2s']} {target}"],
        [f"xmpp.{domain}", "A" if ":" not in host else "AAAA", host],
        [domain, "A" if ":" not in host else "AAAA", host],
    ]


def main(argv: list[str]) -> int:
    records_file, port_file = Path(argv[0]), Path(argv[1])
    rows = json.loads(records_file.read_text())
    server = LabDnsServer([Record(name, kind, value) for name, kind, value in rows])
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    _, port = server.start(int(argv[2]) if len(argv) > 2 else 0)
    port_file.write_text(str(port))
    try:
        stop.wait()
    finally:
        server.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
