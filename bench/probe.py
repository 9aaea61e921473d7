"""Probing 100 domains in parallel against the slowest single domain, and next to check_xmppng.

Budget (DESIGN.md): probing 100 domains takes at most 1.5x the time of the slowest single
domain.  Everything runs on loopback: one Prosody (the lab's config plus 100 virtual hosts,
certificate ``*.bench.test`` from a private CA) and the lab's DNS server, which gives each
domain its own ``_xmpp-client``, ``_xmpps-client`` and ``_xmpp-server`` SRV records.  Each
domain is probed fully except the HTTP checks (3 endpoints: TCP, stream, STARTTLS or direct
TLS, certificate checks, features).

In the same run a sample of domains is also checked with Debian's ``check_xmppng`` (one c2s
STARTTLS connection, no SRV) and with the ``xiot probe`` command, both as whole processes.

    python bench/probe.py [--domains 100] [--sample 10]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from xiot.lab import prosody
from xiot.lab.ca import CertificateAuthority, CertSpec, write_pem
from xiot.lab.dns import LabDnsServer, Record
from xiot.lab.ports import free_ports
from xiot.probes.runner import ProbeOptions, probe_many

CHECK_XMPPNG = "/usr/lib/nagios/plugins/check_xmppng"


def start_server(directory: Path, domains: list[str]) -> tuple[prosody.ServerConfig, int]:
    ca = CertificateAuthority.create(name="xiot bench CA")
    ca.write(directory / "ca.pem", directory / "ca.key")
    cert, key = ca.issue(CertSpec("bench.test", dns_names=("xiot.test", "*.bench.test")))
    (directory / "certs").mkdir()
    write_pem(directory / "certs" / "server.crt", directory / "certs" / "server.key", cert, key)
    ports = prosody.Ports(*free_ports(4, "127.0.0.1"))
    cfg = prosody.ServerConfig(directory, "xiot.test", "127.0.0.1", ports, "admin@xiot.test",
                               directory / "certs" / "server.crt",
                               directory / "certs" / "server.key")
    hosts = "".join(f'\nVirtualHost "{domain}"\n' for domain in domains)
    cfg.config_file.write_text(prosody.render_config(cfg) + hosts)
    return cfg, prosody.start(cfg)


def records(domains: list[str], ports: prosody.Ports) -> list[Record]:
    found = [Record("xmpp.bench.test", "A", "127.0.0.1")]
    for domain in domains:
        found += [
            Record(f"_xmpp-client._tcp.{domain}", "SRV", f"5 0 {ports.c2s} xmpp.bench.test."),
            Record(f"_xmpps-client._tcp.{domain}", "SRV",
                   f"5 0 {ports.c2s_direct} xmpp.bench.test."),
            Record(f"_xmpp-server._tcp.{domain}", "SRV", f"5 0 {ports.s2s} xmpp.bench.test."),
        ]
    return found


def probe(domains: list[str], options: ProbeOptions) -> tuple[float, int]:
    async def run() -> int:
        return sum([result.failed async for result in probe_many(domains, options)])

    started = time.perf_counter()
    failed = asyncio.run(run())
    return time.perf_counter() - started, failed


def timed_process(argv: list[str]) -> tuple[float, str, int]:
    started = time.perf_counter()
    done = subprocess.run(argv, capture_output=True, text=True, timeout=60, check=False)
    return time.perf_counter() - started, done.stdout.strip(), done.returncode


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--domains", type=int, default=100)
    parser.add_argument("--sample", type=int, default=10, help="domains timed as processes")
    args = parser.parse_args()
    domains = [f"d{i:03d}.bench.test" for i in range(args.domains)]
    with tempfile.TemporaryDirectory(prefix="xiot-bench-") as tmp:
        directory = Path(tmp)
        cfg, pid = start_server(directory, domains)
        dns = LabDnsServer(records(domains, cfg.ports), zones=["bench.test"])
        host, port = dns.start()
        try:
            options = ProbeOptions(resolver=(host, port), timeout=10.0,
                                   ca=directory / "ca.pem", skip=("web",))
            probe(domains[:3], options)  # warm-up: imports, first handshakes
            singles = [probe([domain], options) for domain in domains]
            single_times = [t for t, _ in singles]
            parallel, failed = probe(domains, options)
            comparison(domains[: args.sample], cfg, host, port, directory, single_times)
        finally:
            dns.stop()
            prosody.stop_pid(pid, cfg.config_file)
    slowest = max(single_times)
    print(f"single domains, one at a time: median {statistics.median(single_times) * 1000:.1f}"
          f" ms, slowest {slowest * 1000:.1f} ms "
          f"({sum(f for _, f in singles)} with a failed check)")
    print(f"{len(domains)} domains in parallel: {parallel * 1000:.1f} ms "
          f"({failed} with a failed check)")
    print(f"ratio (parallel / slowest single, budget <= 1.5): {parallel / slowest:.2f}")


def comparison(sample: list[str], cfg: prosody.ServerConfig, host: str, port: int,
               directory: Path, single_times: list[float]) -> None:
    """Per-domain times of check_xmppng and of the xiot command, as whole processes."""
    xiot = shutil.which("xiot")
    common = ["--resolver", f"{host}:{port}", "--ca", str(directory / "ca.pem"),
              "--skip", "web", "-o", "nagios"]
    xiot_walls = [timed_process([xiot, "probe", d, *common])[0] for d in sample] if xiot else []
    if not os.access(CHECK_XMPPNG, os.X_OK):
        print(f"check_xmppng: not installed ({CHECK_XMPPNG} missing; "
              "apt-get install nagios-check-xmppng)")
    else:
        walls: list[float] = []
        internal: list[float] = []
        first = ""
        for domain in sample:
            # Debian's plugin needs Debian's python3 (its modules are not in other Pythons).
            wall, out, _ = timed_process(
                ["/usr/bin/python3", CHECK_XMPPNG, "-H", "127.0.0.1", "-p", str(cfg.ports.c2s),
                 "--servername", domain, "--starttls", "-r", str(directory / "ca.pem")])
            walls.append(wall)
            first = first or out
            match = re.search(r"time=([0-9.]+)s", out)
            if match:
                internal.append(float(match.group(1)))
        print(f"check_xmppng sample output: {first}")
        print(f"check_xmppng per domain (process, 1 endpoint, no SRV): median "
              f"{statistics.median(walls) * 1000:.1f} ms; its own 'request took' median "
              + (f"{statistics.median(internal) * 1000:.1f} ms" if internal else "n/a"))
    if xiot_walls:
        print(f"xiot probe per domain (process, 3 endpoints + DNS): median "
              f"{statistics.median(xiot_walls) * 1000:.1f} ms")
    print(f"xiot probe per domain (in-process, 3 endpoints + DNS): median "
          f"{statistics.median(single_times) * 1000:.1f} ms")


if __name__ == "__main__":
    sys.exit(main())
