"""Certificate facts for XMPP probes: identity (RFC 6125/6120/7590), expiry, trust.

Python's ``ssl`` checks only DNS names (and IP addresses), so it rejects certificates that
name an XMPP domain only in an XmppAddr (RFC 6120) or SRVName (RFC 4985) otherName entry,
which XMPP explicitly allows.  This module parses the names itself with ``cryptography`` and
matches them as RFC 6125 describes for XMPP:

* DNS-ID: exact, or a wildcard that is the whole leftmost label (``*.example.org``) and covers
  exactly one label; partial-label wildcards (``x*.example.org``) and wildcards with fewer than
  two labels after them never match.
* SRV-ID: ``_xmpp-client.<domain>`` / ``_xmpp-server.<domain>``; for direct TLS (XEP-0368) the
  ``_xmpps-`` forms are accepted too.  No wildcards.
* XmppAddr: a UTF8String equal to the domain (compared in A-label form).
* CN: only when the certificate has none of the above, and only if the caller allows it;
  a CN match is always flagged because RFC 6125 deprecates it.

Trust (whether the chain leads to an anchor, and why not) is decided apart from the name, in
``xiot.probes.trust``.
"""

from __future__ import annotations

import datetime as dt
import functools
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Literal

from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.x509.oid import NameOID, ObjectIdentifier

from xiot.errors import TLSError
from xiot.probes.report import Check, Status

#: id-on-xmppAddr (RFC 6120 section 13.7.1.4)
XMPP_ADDR_OID = ObjectIdentifier("1.3.6.1.5.5.7.8.5")
#: id-on-dnsSRV (RFC 4985)
SRV_NAME_OID = ObjectIdentifier("1.3.6.1.5.5.7.8.7")

IdType = Literal["DNS-ID", "SRV-ID", "XmppAddr", "CN"]

DEFAULT_WARN_DAYS = 30
DEFAULT_CRIT_DAYS = 7

_UTF8_STRING = 0x0C
_IA5_STRING = 0x16
_PEM_BEGIN = b"-----BEGIN CERTIFICATE-----"
_PEM_END = b"-----END CERTIFICATE-----"


# -- loading -------------------------------------------------------------------------------


def load_chain(data: bytes | Sequence[bytes]) -> tuple[x509.Certificate, ...]:
    """Parse a peer chain: one PEM bundle, one DER certificate, or a list of DER/PEM blobs.

    A list is what ``ssl`` hands over (``getpeercert(binary_form=True)`` or, from Python
    3.13, ``get_unverified_chain()``).  Raises ``TLSError`` when the peer sent something that
    is not a certificate, since that is a fault of the remote side, not of the user.
    """
    blobs = [data] if isinstance(data, bytes | bytearray) else list(data)
    certs: list[x509.Certificate] = []
    for blob in blobs:
        try:
            if _PEM_BEGIN in blob:
                certs.extend(x509.load_pem_x509_certificates(bytes(blob)))
            else:
                certs.append(x509.load_der_x509_certificate(bytes(blob)))
        except ValueError as exc:
            raise TLSError(f"the peer sent a certificate that cannot be parsed: {exc}") from exc
    if not certs:
        raise TLSError("the peer sent no certificate")
    return tuple(certs)

# -- identities ----------------------------------------------------------------------------


@dataclass(frozen=True)
class PresentedIds:
    """The identifiers a certificate presents, by type (strings as found in the certificate)."""

    dns_ids: tuple[str, ...] = ()
    srv_ids: tuple[str, ...] = ()
    xmpp_addrs: tuple[str, ...] = ()
    ip_addresses: tuple[str, ...] = ()
    uri_ids: tuple[str, ...] = ()
    common_names: tuple[str, ...] = ()
    #: Entries we could not decode, described for the report.
    malformed: tuple[str, ...] = ()

    @property
    def has_san_ids(self) -> bool:
        """Whether any SAN identifier exists that rules out the CN fallback (RFC 6125 6.4.4)."""
        return bool(self.dns_ids or self.srv_ids or self.xmpp_addrs or self.uri_ids)

    def as_dict(self) -> dict[str, list[str]]:
        return {
            "dns": list(self.dns_ids), "srv": list(self.srv_ids), "xmpp": list(self.xmpp_addrs),
            "ip": list(self.ip_addresses), "uri": list(self.uri_ids),
            "cn": list(self.common_names), "malformed": list(self.malformed),
        }


def presented_identifiers(cert: x509.Certificate) -> PresentedIds:
    """Collect DNS, SRVName, XmppAddr, IP and URI SAN entries, and the subject CNs."""
    dns_ids: list[str] = []
    srv_ids: list[str] = []
    xmpp_addrs: list[str] = []
    ips: list[str] = []
    uris: list[str] = []
    malformed: list[str] = []
    try:
        san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    except x509.ExtensionNotFound:
        san = None
    except ValueError as exc:
        san = None
        malformed.append(f"subjectAltName: {exc}")
    for name in san or ():
        if isinstance(name, x509.DNSName):
            dns_ids.append(name.value)
        elif isinstance(name, x509.IPAddress):
            ips.append(str(name.value))
        elif isinstance(name, x509.UniformResourceIdentifier):
            uris.append(name.value)
        elif isinstance(name, x509.OtherName) and name.type_id == XMPP_ADDR_OID:
            _decode_other(name.value, _UTF8_STRING, "utf-8", "XmppAddr", xmpp_addrs, malformed)
        elif isinstance(name, x509.OtherName) and name.type_id == SRV_NAME_OID:
            _decode_other(name.value, _IA5_STRING, "ascii", "SRVName", srv_ids, malformed)
    common_names = [
        str(attr.value) for attr in cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)
    ]
    return PresentedIds(
        tuple(dns_ids), tuple(srv_ids), tuple(xmpp_addrs), tuple(ips), tuple(uris),
        tuple(common_names), tuple(malformed),
    )


def _decode_other(
    der: bytes, tag: int, encoding: str, label: str, out: list[str], malformed: list[str]
) -> None:
    try:
        out.append(_der_string(der, tag).decode(encoding))
    except (ValueError, UnicodeDecodeError) as exc:
        malformed.append(f"{label}: {exc}")


def _der_string(der: bytes, tag: int) -> bytes:
    """The body of a DER string of type ``tag`` (cryptography hands otherName values as DER)."""
    if len(der) < 2 or der[0] != tag:
        found = f"0x{der[0]:02x}" if der else "nothing"
        raise ValueError(f"expected ASN.1 tag 0x{tag:02x}, found {found}")
    size, offset = der[1], 2
    if size & 0x80:
        count = size & 0x7F
        if count == 0 or count > 4 or len(der) < 2 + count:
            raise ValueError("bad DER length")
        size, offset = int.from_bytes(der[2 : 2 + count], "big"), 2 + count
    if len(der) != offset + size:
        raise ValueError("DER length does not match the value")
    return der[offset:]


@functools.lru_cache(maxsize=4096)
def _a_label(name: str) -> str | None:
    """``name`` lower-cased in A-label form, or ``None`` if it is not a valid DNS name.

    Cached: every endpoint of every domain compares the same few names, and IDNA encoding
    costs more than the rest of the identity match.
    """
    import idna

    text = name.strip().rstrip(".")
    if not text:
        return None
    try:
        return idna.encode(text, uts46=True).decode("ascii").lower()
    except (idna.IDNAError, UnicodeError, ValueError):
        # Certificates also carry plain ASCII labels that IDNA 2008 dislikes (underscores).
        return text.lower() if text.isascii() else None


def match_dns_id(presented: str, domain: str) -> tuple[bool, bool]:
    """Whether DNS-ID ``presented`` matches ``domain``; returns ``(matched, via_wildcard)``.

    Wildcard rules (RFC 6125 section 6.4.3, RFC 9525): the ``*`` must be the entire leftmost
    label, it covers exactly one label, and at least two labels must follow it.
    """
    reference = _a_label(domain)
    if reference is None:
        return (False, False)
    pattern = presented.strip().rstrip(".").lower()
    if "*" not in pattern:
        target = _a_label(pattern)
        return (target is not None and target == reference, False)
    labels = pattern.split(".")
    if labels[0] != "*" or "*" in ".".join(labels[1:]) or len(labels) < 3:
        return (False, False)
    suffix = _a_label(".".join(labels[1:]))
    ref_labels = reference.split(".")
    if suffix is None or len(ref_labels) != len(labels):
        return (False, False)
    return (".".join(ref_labels[1:]) == suffix and bool(ref_labels[0]), True)


def srv_id_services(service: str) -> tuple[str, ...]:
    """The SRV-ID service labels acceptable for ``service`` (``xmpp-client``, ``xmpps-server``...).

    STARTTLS endpoints accept only ``_xmpp-*``; direct-TLS ones (XEP-0368) accept both
    ``_xmpps-*`` and ``_xmpp-*``, because deployed certificates name the latter.
    """
    name = service.lstrip("_")
    if name.startswith("xmpps-"):
        return (f"_{name}", "_xmpp-" + name.removeprefix("xmpps-"))
    return (f"_{name}",)


@dataclass(frozen=True)
class IdentityMatch:
    """How (and whether) a certificate matches an XMPP domain for a service."""

    domain: str
    service: str
    matched: bool
    id_type: IdType | None
    identifier: str | None
    wildcard: bool
    #: True when the only match is the subject CN (accepted only with ``allow_cn``).
    cn_only: bool
    presented: PresentedIds
    #: Every ``(type, identifier)`` that matched, in preference order.
    matches: tuple[tuple[IdType, str], ...] = ()

    @property
    def message(self) -> str:
        if self.matched and self.cn_only:
            return (f"{self.domain} matches only the subject CN {self.identifier!r} "
                    "(deprecated by RFC 6125; add a DNS or XmppAddr SAN)")
        if self.matched:
            how = " via wildcard" if self.wildcard else ""
            return f"{self.domain} matches {self.id_type} {self.identifier!r}{how}"
        if self.cn_only:
            return (f"{self.domain} matches only the subject CN {self.identifier!r}, "
                    "which is not accepted; the certificate has no matching SAN")
        names = [*self.presented.dns_ids, *self.presented.srv_ids, *self.presented.xmpp_addrs]
        shown = ", ".join(names[:5]) or ", ".join(self.presented.common_names) or "no names"
        return f"certificate does not name {self.domain} (presents: {shown})"


def match_identity(
    cert: x509.Certificate, domain: str, service: str = "xmpp-client", *, allow_cn: bool = False
) -> IdentityMatch:
    """Match ``cert`` against XMPP ``domain`` for ``service`` (e.g. ``xmpp-client``).

    Preference when several identifiers match: DNS-ID (exact before wildcard), SRV-ID,
    XmppAddr.  The CN is consulted only when the certificate has no DNS-ID, SRV-ID, URI-ID or
    XmppAddr at all; a CN match counts as matched only with ``allow_cn`` and is always marked
    ``cn_only`` so that callers can warn.
    """
    ids = presented_identifiers(cert)
    reference = _a_label(domain) or domain.lower()
    exact: list[tuple[IdType, str]] = []
    wild: list[tuple[IdType, str]] = []
    for dns_id in ids.dns_ids:
        matched, via_wildcard = match_dns_id(dns_id, reference)
        if matched:
            (wild if via_wildcard else exact).append(("DNS-ID", dns_id))
    accepted_services = srv_id_services(service)
    for srv_id in ids.srv_ids:
        label, _, rest = srv_id.partition(".")
        if label.lower() in accepted_services and _a_label(rest) == reference:
            exact.append(("SRV-ID", srv_id))
    for addr in ids.xmpp_addrs:
        if _a_label(addr) == reference:
            exact.append(("XmppAddr", addr))
    matches = tuple(exact + wild)
    if matches:
        id_type, identifier = matches[0]
        return IdentityMatch(domain, service, True, id_type, identifier,
                             not exact, False, ids, matches)
    if not ids.has_san_ids:
        for cn in ids.common_names:
            matched, via_wildcard = match_dns_id(cn, reference)
            if matched:
                return IdentityMatch(domain, service, allow_cn, "CN", cn, via_wildcard, True,
                                     ids, (("CN", cn),))
    return IdentityMatch(domain, service, False, None, None, False, False, ids)


# -- validity and fingerprints -------------------------------------------------------------


@dataclass(frozen=True)
class Validity:
    """The certificate's validity window judged against warn/crit thresholds."""

    not_before: dt.datetime
    not_after: dt.datetime
    days_left: float
    status: Status
    message: str


def check_validity(
    cert: x509.Certificate,
    *,
    warn_days: float = DEFAULT_WARN_DAYS,
    crit_days: float = DEFAULT_CRIT_DAYS,
    now: dt.datetime | None = None,
) -> Validity:
    """``fail`` if expired, not yet valid or under ``crit_days``; ``warn`` under ``warn_days``."""
    moment = now or dt.datetime.now(dt.UTC)
    not_before, not_after = cert.not_valid_before_utc, cert.not_valid_after_utc
    days_left = (not_after - moment).total_seconds() / 86400
    stamp = not_after.strftime("%Y-%m-%d %H:%M UTC")
    status: Status
    if moment < not_before:
        status = "fail"
        message = f"not valid until {not_before.strftime('%Y-%m-%d %H:%M UTC')}"
    elif days_left < 0:
        status, message = "fail", f"expired {-days_left:.1f} days ago ({stamp})"
    elif days_left < crit_days:
        status, message = "fail", f"expires in {days_left:.1f} days ({stamp})"
    elif days_left < warn_days:
        status, message = "warn", f"expires in {days_left:.1f} days ({stamp})"
    else:
        status, message = "ok", f"valid for {days_left:.0f} more days (until {stamp})"
    return Validity(not_before, not_after, days_left, status, message)


def fingerprint(cert: x509.Certificate) -> str:
    """SHA-256 fingerprint as colon-separated upper-case hex (the ``openssl x509`` form)."""
    return cert.fingerprint(hashes.SHA256()).hex(":").upper()


def group_by_fingerprint(
    fingerprints: Mapping[str, str],
) -> dict[str, tuple[str, ...]]:
    """Map each fingerprint to the endpoints that presented it (``{endpoint: fp}`` in).

    One key means every endpoint serves the same certificate; more keys reveal the endpoint
    that differs (e.g. a direct-TLS port still serving an old or default certificate).
    """
    groups: dict[str, list[str]] = {}
    for endpoint, value in fingerprints.items():
        groups.setdefault(value, []).append(endpoint)
    return {value: tuple(endpoints) for value, endpoints in groups.items()}

# -- checks --------------------------------------------------------------------------------


def identity_check(match: IdentityMatch, endpoint: str | None = None) -> Check:
    """``tls.identity``: ok on a SAN match, warn on an allowed CN-only match, else fail."""
    status: Status = "fail"
    if match.matched:
        status = "warn" if match.cn_only else "ok"
    details = {"service": match.service, "id_type": match.id_type,
               "identifier": match.identifier, "wildcard": match.wildcard,
               "presented": match.presented.as_dict()}
    return Check(match.domain, "tls.identity", status, None, match.message, endpoint, details)


def validity_check(
    domain: str, validity: Validity, endpoint: str | None = None
) -> Check:
    """``tls.expiry`` from a ``Validity``."""
    details = {"not_before": validity.not_before, "not_after": validity.not_after,
               "days_left": round(validity.days_left, 2)}
    return Check(domain, "tls.expiry", validity.status, None, validity.message, endpoint,
                 details)

def same_certificate_check(domain: str, fingerprints: Mapping[str, str]) -> Check:
    """``tls.same-cert``: a note when endpoints of one domain present different certificates."""
    groups = group_by_fingerprint(fingerprints)
    details = {"fingerprints": {fp: list(eps) for fp, eps in groups.items()}}
    if not groups:
        return Check(domain, "tls.same-cert", "skip", None, "no certificates collected",
                     None, details)
    if len(groups) == 1:
        return Check(domain, "tls.same-cert", "ok", None,
                     f"all {len(fingerprints)} endpoint(s) present the same certificate",
                     None, details)
    # Each certificate is judged on its own (trust, name, expiry) where it is served, so
    # different ones across endpoints are worth knowing (a port with an old certificate) but
    # need no action by themselves.
    smallest = min(groups.values(), key=len)
    return Check(domain, "tls.same-cert", "note", None,
                 f"{len(groups)} different certificates across endpoints; "
                 f"e.g. {', '.join(smallest)} differ(s) from the rest", None, details)

