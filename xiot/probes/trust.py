"""Trust for probed certificates: the anchors (system store or ``--ca``) and whether a chain
leads to one, with the reason in words when it does not.

Trust is decided apart from the name (``xiot.probes.certs``), because cryptography's server
verifier insists on a DNS or IP subject and so would reject a valid otherName-only leaf:
``verify_chain`` checks the signatures and validity period up to a trust anchor and nothing
else.  When that fails, ``explain_untrusted`` walks the chain as sent to say what an operator
must fix: a self-signed certificate, an intermediate the server does not send, a root the
store does not hold, an expired certificate.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import functools
import os
import ssl
import time
import warnings
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.utils import CryptographyDeprecationWarning

from xiot.errors import UsageError
from xiot.probes.report import Check

_PEM_BEGIN = b"-----BEGIN CERTIFICATE-----"
_PEM_END = b"-----END CERTIFICATE-----"


# -- anchors -------------------------------------------------------------------------------


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


def trust_check(domain: str, trust: TrustResult, endpoint: str | None = None) -> Check:
    """``tls.trust``: ok when the chain verifies against the store, else fail."""
    if trust.trusted:
        message = f"chain verified against the {trust.store} trust store"
    else:
        message = f"not trusted: {trust.error}"
    return Check(domain, "tls.trust", "ok" if trust.trusted else "fail", trust.elapsed_ms,
                 message, endpoint, {"store": trust.store, "path": list(trust.path),
                                     "reason": trust.reason})
