"""Where a client or server can be reached: the XMPP SRV services and one ``Endpoint`` type.

Kept apart from the DNS code so that a session told where to connect (``--server``) never
imports the resolver library: the Session and the probe share these types, and only a look-up
needs ``xiot.xmpp.dns``.  ``--tls none`` endpoints are planned here too, from the named
loopback server only, and checked once more just before the Session connects.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal, NamedTuple

from xiot.config.settings import PLAINTEXT_HINT, is_loopback_host
from xiot.errors import UsageError

if TYPE_CHECKING:
    from xiot.config import Settings

log = logging.getLogger("xiot")

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
    """One address and port to connect to, and how (STARTTLS, direct TLS, or none at all)."""

    host: str
    address: str
    port: int
    direct_tls: bool
    service: str
    #: True when the endpoint comes from the A/AAAA fallback, not from an SRV record.
    fallback: bool = False
    #: True when the user named it (``--server``): no DNS was asked.
    given: bool = False
    #: True for ``--tls none``: no TLS at all (a loopback test server only).
    plain: bool = False

    @classmethod
    def configured(cls, host: str, port: int, direct_tls: bool) -> Endpoint:
        """An endpoint the user named with ``--server host:port``."""
        return cls(host, host, port, direct_tls,
                   "xmpps-client" if direct_tls else "xmpp-client", given=True)

    @classmethod
    def unencrypted(cls, host: str, address: str, port: int) -> Endpoint:
        """A ``--tls none`` endpoint: ``address`` is the loopback address to connect to."""
        return cls(host, address, port, False, "xmpp-client", given=True, plain=True)

    @property
    def origin(self) -> str:
        """Where this endpoint came from, for logs and error messages."""
        if self.given:
            return "server option"
        if self.fallback:
            return "domain fallback"
        return f"SRV _{self.service}._tcp {self.host}"

    @property
    def where(self) -> str:
        """``address:port``, an IPv6 address in brackets."""
        address = f"[{self.address}]" if ":" in self.address else self.address
        return f"{address}:{self.port}"

    def __str__(self) -> str:
        kind = "no TLS" if self.plain else "direct TLS" if self.direct_tls else "STARTTLS"
        return f"{self.where} ({kind})"

    @property
    def kind(self) -> Kind:
        return SERVICES[self.service].kind

    @property
    def label(self) -> str:
        """``host[address]:port/tls`` - the endpoint column of reports."""
        mode = "plain" if self.plain else "directtls" if self.direct_tls else "starttls"
        return f"{self.host}[{self.address}]:{self.port}/{mode}"


# ------------------------------------------------------------------ --tls none


def unencrypted_endpoints(settings: Settings) -> list[Endpoint]:
    """``--tls none``: the named loopback server only, never a DNS look-up.

    ``localhost`` becomes its two loopback addresses rather than a name to resolve, so no
    resolver (and no hosts file) can send a plaintext password elsewhere.  Settings are
    checked when resolved; this repeats it for settings a caller built by hand.
    """
    host = settings.host
    if not host or not is_loopback_host(host):
        where = f", not {host}" if host else ""
        raise UsageError(f"--tls none needs --server 127.0.0.1:PORT (loopback only){where}",
                         PLAINTEXT_HINT)
    port = settings.port or 5222
    if host.lower().rstrip(".") == "localhost":
        return [Endpoint.unencrypted(host, "127.0.0.1", port),
                Endpoint.unencrypted(host, "::1", port)]
    return [Endpoint.unencrypted(host, host.strip("[]"), port)]


def refuse_unless_loopback(endpoint: Endpoint) -> None:
    """The last check before an unencrypted connection: the address itself is loopback.

    Only an address literal passes (a name here would be looked up by someone else), and
    only one in 127.0.0.0/8 or ``::1``.  Nothing is sent anywhere else.
    """
    import ipaddress

    try:
        loopback = ipaddress.ip_address(endpoint.address).is_loopback
    except ValueError:
        loopback = False
    if not loopback:
        raise UsageError(f"--tls none: refusing to connect to {endpoint.address}: not a "
                         "loopback address", PLAINTEXT_HINT)


_WARNED_UNENCRYPTED: set[tuple[str, int]] = set()


def warn_unencrypted(endpoint: Endpoint) -> None:
    """Say loudly, once per process and server, that this stream carries the password in
    clear (the same channel as ``--insecure``'s warning)."""
    key = (endpoint.address, endpoint.port)
    if key in _WARNED_UNENCRYPTED:
        return
    _WARNED_UNENCRYPTED.add(key)
    log.warning("WARNING: --tls none: the stream to %s is NOT encrypted and the password "
                "crosses it in plaintext; allowed for loopback test servers only",
                endpoint.where)
