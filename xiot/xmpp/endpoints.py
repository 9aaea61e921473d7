"""Where a client or server can be reached: the XMPP SRV services and one ``Endpoint`` type.

Kept apart from the DNS code so that a session told where to connect (``--server``) never
imports the resolver library: the Session and the probe share these types, and only a look-up
needs ``xiot.xmpp.dns``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal, NamedTuple

Kind = Literal["client", "server"]


class ServiceInfo(NamedTuple):
    """What an XMPP SRV service name means."""

    kind: Kind
    direct_tls: bool
    #: Port used for the A/AAAA fallback, or ``None`` when the service has no fallback.
    fallback_port: int | None


#: The four SRV services, in the order they are reported.
SERVICES: dict[str, ServiceInfo] = {
    "xmpp-client": ServiceInfo("client", False, 5222),
    "xmpps-client": ServiceInfo("client", True, None),
    "xmpp-server": ServiceInfo("server", False, 5269),
    "xmpps-server": ServiceInfo("server", True, None),
}


@dataclass(frozen=True)
class Endpoint:
    """One address and port to connect to, and how (STARTTLS or direct TLS)."""

    host: str
    address: str
    port: int
    direct_tls: bool
    service: str
    #: True when the endpoint comes from the A/AAAA fallback, not from an SRV record.
    fallback: bool = False
    #: True when the user named it (``--server``): no DNS was asked.
    given: bool = False

    @classmethod
    def configured(cls, host: str, port: int, direct_tls: bool) -> Endpoint:
        """An endpoint the user named with ``--server host:port``."""
        return cls(host, host, port, direct_tls,
                   "xmpps-client" if direct_tls else "xmpp-client", given=True)

    @property
    def origin(self) -> str:
        """Where this endpoint came from, for logs and error messages."""
        if self.given:
            return "server option"
        if self.fallback:
            return "domain fallback"
        return f"SRV _{self.service}._tcp {self.host}"

    def __str__(self) -> str:
        kind = "direct TLS" if self.direct_tls else "STARTTLS"
        address = f"[{self.address}]" if ":" in self.address else self.address
        return f"{address}:{self.port} ({kind})"

    @property
    def kind(self) -> Kind:
        return SERVICES[self.service].kind

    @property
    def label(self) -> str:
        """``host[address]:port/tls`` - the endpoint column of reports."""
        mode = "directtls" if self.direct_tls else "starttls"
        return f"{self.host}[{self.address}]:{self.port}/{mode}"
