"""TLS facts of one probed endpoint, and the checks that judge them.

The handshake is made with verification switched off on purpose: a probe must see (and
report) an expired, self-signed or wrongly named certificate instead of stopping at the first
verification error, and Python's ``ssl`` would reject valid certificates that name the domain
only in XmppAddr or SRVName entries.  Trust, identity and expiry are then judged separately by
``xiot.probes.certs`` on the chain the server sent.  Nothing here trusts the connection: the
probe sends no credentials over it.
"""

from __future__ import annotations

import asyncio
import functools
import ssl
from dataclasses import dataclass, field
from pathlib import Path

from cryptography import x509

from xiot.probes import certs, trust
from xiot.probes.report import Check, Status
from xiot.xmpp.endpoints import Endpoint

ALPN = {"client": "xmpp-client", "server": "xmpp-server"}
_OLD_VERSIONS = frozenset({"SSLv3", "TLSv1", "TLSv1.1"})


@dataclass(frozen=True)
class TlsInfo:
    """What the handshake negotiated and the chain the server sent (DER, leaf first)."""

    version: str | None
    cipher: str | None
    bits: int | None
    sni: str
    alpn_offered: tuple[str, ...]
    alpn: str | None
    compression: str | None
    chain: tuple[bytes, ...]
    handshake_ms: float


#: Chains a policy remembers (see ``TrustPolicy.judge_chain``); more are judged afresh.
_MAX_CHAINS = 1024


@dataclass(frozen=True)
class TrustPolicy:
    """What the probe trusts and how close to expiry a certificate may be.

    One policy is made per probing round, and it remembers each chain it has judged: the
    endpoints of a domain, and often many domains of one server, present the same chain, and
    parsing and verifying it again would give the same answer.
    """

    anchors: tuple[x509.Certificate, ...]
    store: str = "system"
    warn_days: float = certs.DEFAULT_WARN_DAYS
    crit_days: float = certs.DEFAULT_CRIT_DAYS
    _chains: dict[tuple[bytes, ...], tuple[tuple[x509.Certificate, ...], trust.TrustResult]] = (
        field(default_factory=dict, init=False, repr=False, compare=False, hash=False))

    @classmethod
    def load(cls, ca: Path | str | None, warn_days: float = certs.DEFAULT_WARN_DAYS,
             crit_days: float = certs.DEFAULT_CRIT_DAYS) -> TrustPolicy:
        """``--ca FILE`` replaces the system store, as it does for every other command."""
        if ca:
            return cls(trust.load_ca_file(ca), f"custom ({Path(ca).name})", warn_days, crit_days)
        return cls(trust.system_trust_store(), "system", warn_days, crit_days)

    def judge_chain(
        self, der: tuple[bytes, ...]
    ) -> tuple[tuple[x509.Certificate, ...], trust.TrustResult]:
        """The parsed chain and whether it leads to an anchor (``TLSError`` if unparsable)."""
        found = self._chains.get(der)
        if found is None:
            chain = certs.load_chain(list(der))
            found = (chain, trust.verify_chain(chain, anchors=self.anchors,
                                               store_name=self.store))
            if len(self._chains) >= _MAX_CHAINS:
                self._chains.clear()
            self._chains[der] = found
        return found


@functools.lru_cache(maxsize=4)
def probe_context(kind: str) -> ssl.SSLContext:
    """A client context that completes the handshake whatever the certificate says.

    It offers the XMPP ALPN protocol of ``kind`` (XEP-0368) and, like every xiot connection,
    refuses anything older than TLS 1.2.  One context per kind is shared by every probe.
    """
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    context.set_alpn_protocols([ALPN.get(kind, "xmpp-client")])
    return context


def handshake_info(
    writer: asyncio.StreamWriter, sni: str, context: ssl.SSLContext, elapsed_ms: float
) -> TlsInfo:
    """Read the negotiated parameters and the peer chain from a finished handshake."""
    obj: ssl.SSLObject | None = writer.get_extra_info("ssl_object")
    if obj is None:
        raise ssl.SSLError("no TLS session after the handshake")
    cipher = obj.cipher()
    offered = tuple(ALPN[k] for k in ("client", "server") if context is probe_context(k))
    return TlsInfo(
        version=obj.version(), cipher=cipher[0] if cipher else None,
        bits=cipher[2] if cipher else None, sni=sni, alpn_offered=offered,
        alpn=obj.selected_alpn_protocol(), compression=obj.compression(),
        chain=peer_chain(obj), handshake_ms=elapsed_ms,
    )


def peer_chain(obj: ssl.SSLObject) -> tuple[bytes, ...]:
    """The certificates as sent, leaf first.

    Python 3.13 has ``get_unverified_chain()``; before that the same call exists only on the
    private ``_sslobj``.  Without either we can still judge the leaf.
    """
    for owner in (obj, getattr(obj, "_sslobj", None)):
        getter = getattr(owner, "get_unverified_chain", None)
        if getter is None:
            continue
        try:
            chain = getter() or []
            return tuple(_der(cert) for cert in chain)
        except (ssl.SSLError, ValueError, AttributeError):
            break
    leaf = obj.getpeercert(binary_form=True)
    return (leaf,) if leaf else ()


def _der(cert: object) -> bytes:
    if isinstance(cert, bytes):
        return cert
    return cert.public_bytes(ssl._ssl.ENCODING_DER)  # type: ignore[attr-defined]


# -- checks --------------------------------------------------------------------------------


def tls_checks(
    domain: str,
    endpoint: Endpoint,
    info: TlsInfo | None,
    error: str | None,
    policy: TrustPolicy,
) -> tuple[tuple[Check, ...], str | None]:
    """``tls.handshake``, ``tls.trust``, ``tls.identity`` and ``tls.expiry`` for one endpoint.

    Returns the checks and the leaf's SHA-256 fingerprint (for ``tls.same-cert``), or no
    checks at all when the probe never got as far as a handshake.
    """
    label = endpoint.label
    if info is None:
        if error is None:
            return (), None
        return (Check(domain, "tls.handshake", "fail", None, error, label),), None
    alpn = info.alpn or "none negotiated"
    message = (f"{info.version} {info.cipher} ({info.bits} bits), ALPN {alpn}, SNI {info.sni}")
    status: Status = "ok"
    if info.version in _OLD_VERSIONS:
        status = "warn"
        message += "; TLS older than 1.2 is deprecated (RFC 8996)"
    elif endpoint.direct_tls and not info.alpn:
        # XEP-0368 asks for ALPN on direct TLS; it matters once the port is shared (443).
        status = "note"
        message += f"; the server chose no ALPN protocol (XEP-0368 asks for {ALPN[endpoint.kind]})"
    details = {"version": info.version, "cipher": info.cipher, "bits": info.bits,
               "alpn": info.alpn, "alpn_offered": list(info.alpn_offered), "sni": info.sni,
               "chain_length": len(info.chain)}
    checks = [Check(domain, "tls.handshake", status, info.handshake_ms, message, label, details)]
    try:
        chain, verdict = policy.judge_chain(info.chain)
    except Exception as exc:  # a peer that sends junk is a finding, not a crash
        checks.append(Check(domain, "tls.trust", "fail", None, str(exc), label))
        return tuple(checks), None
    leaf = chain[0]
    checks.append(trust.trust_check(domain, verdict, label))
    match = certs.match_identity(leaf, domain, endpoint.service)
    checks.append(certs.identity_check(match, label))
    validity = certs.check_validity(leaf, warn_days=policy.warn_days, crit_days=policy.crit_days)
    checks.append(certs.validity_check(domain, validity, label))
    return tuple(checks), certs.fingerprint(leaf)
