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

Trust is decided separately from the name, because cryptography's server verifier insists on
a DNS or IP subject and so would reject a valid otherName-only leaf: ``verify_chain`` checks
the signatures and validity period up to a trust anchor and nothing else.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import functools
import os
import ssl
import time
import warnings
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.utils import CryptographyDeprecationWarning
from cryptography.x509.oid import NameOID, ObjectIdentifier

from xiot.errors import TLSError, UsageError
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


def load_ca_file(path: Path | str) -> tuple[x509.Certificate, ...]:
    """Trust anchors from a PEM file given by the user (``--ca``); ``UsageError`` if unusable."""
    file = Path(path)
    try:
        data = file.read_bytes()
    except OSError as exc:
        raise UsageError(f"cannot read CA file {file}: {exc.strerror or exc}") from exc
    certs = _load_pem_lenient(data)
    if not certs:
        raise UsageError(
            f"{file} holds no PEM certificate", hint="Give a PEM file with the CA certificate."
        )
    return certs


@functools.lru_cache(maxsize=1)
def system_trust_store() -> tuple[x509.Certificate, ...]:
    """The system's trust anchors, read from where OpenSSL (and so Python's ``ssl``) looks.

    Honours ``SSL_CERT_FILE``/``SSL_CERT_DIR`` like OpenSSL.  Certificates that cryptography
    cannot parse are skipped rather than failing the whole store.
    """
    paths = ssl.get_default_verify_paths()
    files = [os.environ.get(paths.openssl_cafile_env), paths.cafile, paths.openssl_cafile]
    for candidate in files:
        if candidate and os.path.isfile(candidate):
            certs = _load_pem_lenient(Path(candidate).read_bytes())
            if certs:
                return certs
    certs: list[x509.Certificate] = []
    for directory in (os.environ.get(paths.openssl_capath_env), paths.capath,
                      paths.openssl_capath):
        if directory and os.path.isdir(directory):
            for entry in sorted(Path(directory).iterdir()):
                if entry.is_file():
                    certs.extend(_load_pem_lenient(entry.read_bytes()))
            if certs:
                break
    return tuple(certs)


def _load_pem_lenient(data: bytes) -> tuple[x509.Certificate, ...]:
    certs: list[x509.Certificate] = []
    start = data.find(_PEM_BEGIN)
    while start >= 0:
        end = data.find(_PEM_END, start)
        if end < 0:
            break
        block = data[start : end + len(_PEM_END)]
        # One odd root must not spoil the whole store; roots with non-positive serials still
        # load today with a deprecation warning, which is not the user's business.
        with contextlib.suppress(ValueError), warnings.catch_warnings():
            warnings.simplefilter("ignore", CryptographyDeprecationWarning)
            certs.append(x509.load_pem_x509_certificate(block))
        start = data.find(_PEM_BEGIN, end)
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


# -- trust ---------------------------------------------------------------------------------


#: Why a chain is not trusted, in the terms an operator acts on (see ``explain_untrusted``).
TrustReason = Literal["self-signed", "unknown-issuer", "untrusted-root", "expired",
                      "not-yet-valid", "invalid", "no-anchors"]


@dataclass(frozen=True)
class TrustResult:
    """Whether the chain leads to a trust anchor (names are not considered here)."""

    trusted: bool
    store: str
    #: Subjects of the verified path, leaf first (empty when untrusted).
    path: tuple[str, ...] = ()
    #: What is wrong, in words (``None`` when trusted).
    error: str | None = None
    elapsed_ms: float = 0.0
    reason: TrustReason | None = None


def verify_chain(
    chain: Sequence[x509.Certificate],
    *,
    anchors: Iterable[x509.Certificate] | None = None,
    store_name: str | None = None,
    now: dt.datetime | None = None,
) -> TrustResult:
    """Verify signatures and validity from the leaf (``chain[0]``) up to a trust anchor.

    ``anchors`` defaults to the system store.  Uses cryptography's verifier with the Web PKI
    rules for CA certificates but no constraints on the leaf's extensions (a server's EKU and
    names are judged elsewhere), so otherName-only leaves are verified like any other.
    """
    from cryptography.x509 import verification as v

    started = time.perf_counter()
    roots = tuple(anchors) if anchors is not None else system_trust_store()
    label = store_name or ("system" if anchors is None else "custom")
    if not chain:
        return TrustResult(False, label, error="no certificate to verify", reason="invalid")
    if not roots:
        return TrustResult(False, label, error="the trust store is empty", reason="no-anchors")
    builder = (
        v.PolicyBuilder()
        .store(_store(roots))
        .extension_policies(
            ca_policy=v.ExtensionPolicy.webpki_defaults_ca(),
            ee_policy=v.ExtensionPolicy.permit_all(),
        )
    )
    if now is not None:
        builder = builder.time(now)
    try:
        verified = builder.build_client_verifier().verify(chain[0], list(chain[1:]))
    except v.VerificationError as exc:
        reason, text = explain_untrusted(chain, roots, label, _first_line(exc), now)
        return TrustResult(False, label, error=text, reason=reason,
                           elapsed_ms=(time.perf_counter() - started) * 1000)
    path = tuple(cert.subject.rfc4514_string() for cert in verified.chain)
    return TrustResult(True, label, path, elapsed_ms=(time.perf_counter() - started) * 1000)


def explain_untrusted(
    chain: Sequence[x509.Certificate],
    roots: Sequence[x509.Certificate],
    store: str,
    library_text: str,
    now: dt.datetime | None = None,
) -> tuple[TrustReason, str]:
    """Why ``chain`` does not lead to one of ``roots``, as an operator would act on it.

    cryptography's verifier says only that the path search found nothing ("candidates
    exhausted"), which reads the same for a self-signed certificate, a server that does not
    send its intermediate and an expired certificate.  Walking up the chain as sent tells them
    apart: the first certificate out of its validity period, a self-signed leaf, a root that
    is not in the store, or an issuer that is neither sent nor in the store.
    """
    moment = now or dt.datetime.now(dt.UTC)
    anchors = {root.subject for root in roots}
    sent = list(chain[1:])
    current = chain[0]
    for _ in range(len(chain) + 1):
        name = current.subject.rfc4514_string() or "no subject"
        what = ("the server's certificate" if current is chain[0]
                else "the intermediate certificate") + f" ({name})"
        if moment > current.not_valid_after_utc:
            stamp = current.not_valid_after_utc.strftime("%Y-%m-%d")
            return "expired", f"{what} expired on {stamp}: renew it"
        if moment < current.not_valid_before_utc:
            stamp = current.not_valid_before_utc.strftime("%Y-%m-%d")
            return "not-yet-valid", f"{what} is not valid before {stamp} (check the clocks)"
        if current.issuer in anchors:
            break  # the path reaches the store; something else is wrong (said below)
        if _self_issued(current):
            if current is chain[0]:
                return "self-signed", (f"{what} is self-signed, so no CA vouches for it: "
                                       "install a CA-issued certificate (or pass --ca with "
                                       "this one if you trust it)")
            return "untrusted-root", (f"the chain ends at the root {name}, which the {store} "
                                      "trust store does not hold (pass --ca if it is your "
                                      "own CA)")
        issuer = next((cert for cert in sent if cert.subject == current.issuer
                       and cert is not current), None)
        if issuer is None:
            wanted = current.issuer.rfc4514_string() or "an unnamed issuer"
            return "unknown-issuer", (
                f"{what} was issued by {wanted}, which the server did not send and the "
                f"{store} trust store does not hold: the server probably does not send its "
                "intermediate certificate (configure the full chain), or the issuing CA is "
                "not trusted here")
        current = issuer
    return "invalid", f"the chain does not verify: {library_text}"


def _self_issued(cert: x509.Certificate) -> bool:
    """Subject equals issuer and the certificate's own key verifies its signature."""
    if cert.subject != cert.issuer:
        return False
    try:
        cert.verify_directly_issued_by(cert)
    except (ValueError, TypeError, InvalidSignature):
        return False
    return True


#: Verification stores by trust-anchor tuple: building one from the system's ~150 roots costs
#: more than verifying a chain, and every endpoint of a round uses the same anchors.
_STORES: dict[int, tuple[tuple[x509.Certificate, ...], object]] = {}
_MAX_STORES = 8


def _store(roots: tuple[x509.Certificate, ...]) -> object:
    from cryptography.x509 import verification as v

    cached = _STORES.get(id(roots))
    if cached is not None and cached[0] is roots:
        return cached[1]
    store = v.Store(list(roots))
    if len(_STORES) >= _MAX_STORES:
        _STORES.clear()
    _STORES[id(roots)] = (roots, store)  # keeping ``roots`` keeps its id from being reused
    return store


def _first_line(exc: BaseException) -> str:
    lines = str(exc).strip().splitlines()
    return lines[0] if lines else type(exc).__name__


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


def trust_check(domain: str, trust: TrustResult, endpoint: str | None = None) -> Check:
    """``tls.trust``: ok when the chain verifies against the store, else fail."""
    if trust.trusted:
        message = f"chain verified against the {trust.store} trust store"
    else:
        message = f"not trusted: {trust.error}"
    return Check(domain, "tls.trust", "ok" if trust.trusted else "fail", trust.elapsed_ms,
                 message, endpoint, {"store": trust.store, "path": list(trust.path),
                                     "reason": trust.reason})


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

