"""SRV look-ups for connecting a client (RFC 6120 section 3.2, XEP-0368).

Only what a session needs: the ordered endpoints for a domain.  The probe has its own, more
thorough DNS report.
"""

from __future__ import annotations

import random

from xiot.errors import ConnectError

SERVICES = (("_xmpps-client._tcp", True), ("_xmpp-client._tcp", False))


async def client_endpoints(
    domain: str, tls: str, timeout: float
) -> list[tuple[str, int, bool, str]]:
    """(host, port, direct_tls, origin) in the order to try; [] when the domain has no SRV.

    XEP-0368 merges both record sets by priority; at equal priority direct TLS goes first since
    it saves a round trip.  A lone ``.`` target means the service is decidedly not offered.
    """
    import dns.asyncresolver
    import dns.exception
    import dns.resolver

    found: list[tuple[int, int, int, str, int, bool, str]] = []
    for service, direct in SERVICES:
        if (tls == "starttls" and direct) or (tls == "direct" and not direct):
            continue
        name = f"{service}.{domain}"
        try:
            answer = await dns.asyncresolver.resolve(name, "SRV", lifetime=timeout)
        except (dns.resolver.NXDOMAIN, dns.resolver.NoAnswer):
            continue
        except dns.resolver.NoNameservers:
            continue
        except dns.exception.Timeout:
            raise ConnectError(f"DNS look-up of {name} timed out",
                               "Check the resolver, or give --server host:port") from None
        for rr in answer:
            target = rr.target.to_text(omit_final_dot=True)
            if target in ("", "."):
                continue
            order = 0 if direct else 1
            jitter = random.random() * (rr.weight + 1)
            found.append((rr.priority, order, -int(jitter), target, rr.port, direct,
                           f"SRV {service}"))
    found.sort()
    return [(host, port, direct, origin) for *_, host, port, direct, origin in found]
