"""Certificate identity (RFC 6125 + XMPP), expiry and trust, with vectors from xiot.lab.ca."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.x509.oid import NameOID

from xiot.errors import TLSError, UsageError
from xiot.lab.ca import XMPP_ADDR_OID, CertificateAuthority, CertSpec, self_signed
from xiot.probes.certs import (
    check_validity,
    fingerprint,
    group_by_fingerprint,
    identity_check,
    load_chain,
    match_dns_id,
    match_identity,
    presented_identifiers,
    same_certificate_check,
    srv_id_services,
    validity_check,
)
from xiot.probes.trust import load_ca_file, trust_check, verify_chain

NOW = dt.datetime.now(dt.UTC).replace(microsecond=0)


@pytest.fixture(scope="module")
def ca() -> CertificateAuthority:
    return CertificateAuthority.create()


def leaf(ca: CertificateAuthority, **kw: object) -> x509.Certificate:
    cn = str(kw.pop("cn", "leaf"))
    cert, _ = ca.issue(CertSpec(cn, **kw))  # type: ignore[arg-type]
    return cert


# -- DNS-ID and wildcards -----------------------------------------------------------------


@pytest.mark.parametrize(
    ("presented", "domain", "matched", "wildcard"),
    [
        ("xiot.test", "xiot.test", True, False),
        ("XIOT.test.", "xiot.TEST", True, False),
        ("*.xiot.test", "chat.xiot.test", True, True),
        ("*.xiot.test", "xiot.test", False, False),  # a wildcard covers exactly one label
        ("*.xiot.test", "a.b.xiot.test", False, False),
        ("x*.xiot.test", "xy.xiot.test", False, False),  # no partial-label wildcards
        ("*x.xiot.test", "ax.xiot.test", False, False),
        ("a.*.xiot.test", "a.b.xiot.test", False, False),  # only the leftmost label
        ("*.test", "xiot.test", False, False),  # too broad
        ("*.*.test", "a.b.test", False, False),
        ("bücher.test", "xn--bcher-kva.test", True, False),  # IDN compared as A-labels
        ("other.test", "xiot.test", False, False),
    ],
)
def test_match_dns_id(presented: str, domain: str, matched: bool, wildcard: bool) -> None:
    assert match_dns_id(presented, domain) == (matched, wildcard)


def test_valid_dns_id(ca: CertificateAuthority) -> None:
    cert = leaf(ca, dns_names=("xiot.test", "xmpp.xiot.test"))
    match = match_identity(cert, "xiot.test")
    assert match.matched and match.id_type == "DNS-ID" and match.identifier == "xiot.test"
    assert identity_check(match, "ep").status == "ok"


def test_wildcard_ok_and_bad(ca: CertificateAuthority) -> None:
    cert = leaf(ca, dns_names=("*.xiot.test",))
    good = match_identity(cert, "chat.xiot.test")
    assert good.matched and good.wildcard and good.id_type == "DNS-ID"
    assert not match_identity(cert, "xiot.test").matched
    partial = leaf(ca, dns_names=("ch*.xiot.test",))
    assert not match_identity(partial, "chat.xiot.test").matched


# -- XMPP identifiers ---------------------------------------------------------------------


def test_xmppaddr_only(ca: CertificateAuthority) -> None:
    cert = leaf(ca, xmpp_addrs=("xiot.test",))
    match = match_identity(cert, "xiot.test", "xmpp-server")
    assert match.matched and match.id_type == "XmppAddr"
    assert presented_identifiers(cert).xmpp_addrs == ("xiot.test",)


def test_xmppaddr_internationalised(ca: CertificateAuthority) -> None:
    cert = leaf(ca, xmpp_addrs=("bücher.test",))
    assert match_identity(cert, "xn--bcher-kva.test").matched


def test_srvname_only(ca: CertificateAuthority) -> None:
    cert = leaf(ca, srv_names=("_xmpp-client.xiot.test",))
    match = match_identity(cert, "xiot.test", "xmpp-client")
    assert match.matched and match.id_type == "SRV-ID"
    assert not match_identity(cert, "xiot.test", "xmpp-server").matched
    # Direct TLS (XEP-0368) accepts the _xmpp-client SRV-ID as well.
    assert match_identity(cert, "xiot.test", "xmpps-client").matched


def test_xmpps_srvname_not_accepted_for_starttls(ca: CertificateAuthority) -> None:
    cert = leaf(ca, srv_names=("_xmpps-client.xiot.test",))
    assert match_identity(cert, "xiot.test", "xmpps-client").matched
    assert not match_identity(cert, "xiot.test", "xmpp-client").matched
    assert srv_id_services("xmpps-server") == ("_xmpps-server", "_xmpp-server")


def test_all_matches_are_listed_in_preference_order(ca: CertificateAuthority) -> None:
    cert = leaf(ca, dns_names=("*.xiot.test", "chat.xiot.test"), xmpp_addrs=("chat.xiot.test",))
    match = match_identity(cert, "chat.xiot.test")
    assert [t for t, _ in match.matches] == ["DNS-ID", "XmppAddr", "DNS-ID"]
    assert not match.wildcard


def test_wrong_name(ca: CertificateAuthority) -> None:
    cert = leaf(ca, cn="other.test", dns_names=("other.test",), xmpp_addrs=("other.test",))
    match = match_identity(cert, "xiot.test")
    assert not match.matched and not match.cn_only
    check = identity_check(match)
    assert check.status == "fail" and "other.test" in check.message


def test_cn_only_is_flagged(ca: CertificateAuthority) -> None:
    cert = leaf(ca, cn="xiot.test")
    strict = match_identity(cert, "xiot.test")
    assert not strict.matched and strict.cn_only and strict.id_type == "CN"
    assert identity_check(strict).status == "fail"
    lenient = match_identity(cert, "xiot.test", allow_cn=True)
    assert lenient.matched and lenient.cn_only
    assert identity_check(lenient).status == "warn"


def test_cn_ignored_when_san_present(ca: CertificateAuthority) -> None:
    cert = leaf(ca, cn="xiot.test", dns_names=("other.test",))
    match = match_identity(cert, "xiot.test", allow_cn=True)
    assert not match.matched and not match.cn_only


def test_malformed_othername_is_reported_not_raised(ca: CertificateAuthority) -> None:
    key = ca.key
    bad = x509.OtherName(XMPP_ADDR_OID, b"\x16\x09xiot.test")  # IA5String, not UTF8String
    cert = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "x")]))
        .issuer_name(ca.cert.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(NOW - dt.timedelta(days=1))
        .not_valid_after(NOW + dt.timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName([bad]), critical=False)
        .sign(key, hashes.SHA256())
    )
    ids = presented_identifiers(cert)
    assert ids.xmpp_addrs == () and ids.malformed
    assert not match_identity(cert, "xiot.test").matched


# -- validity -----------------------------------------------------------------------------


def test_expired(ca: CertificateAuthority) -> None:
    cert = leaf(ca, dns_names=("xiot.test",), not_before=NOW - dt.timedelta(days=30),
                not_after=NOW - dt.timedelta(days=2))
    validity = check_validity(cert, now=NOW)
    assert validity.status == "fail" and "expired" in validity.message
    assert validity.days_left == pytest.approx(-2)
    assert not verify_chain([cert], anchors=[ca.cert]).trusted


def test_not_yet_valid(ca: CertificateAuthority) -> None:
    cert = leaf(ca, dns_names=("xiot.test",), not_before=NOW + dt.timedelta(days=2),
                not_after=NOW + dt.timedelta(days=60))
    assert check_validity(cert, now=NOW).status == "fail"
    assert "not valid until" in check_validity(cert, now=NOW).message


@pytest.mark.parametrize(("days", "status"), [(5, "warn"), (2, "fail"), (90, "ok")])
def test_expiry_thresholds(ca: CertificateAuthority, days: int, status: str) -> None:
    cert = leaf(ca, dns_names=("xiot.test",), not_after=NOW + dt.timedelta(days=days))
    validity = check_validity(cert, warn_days=14, crit_days=3, now=NOW)
    assert validity.status == status
    record = validity_check("xiot.test", validity).to_record()
    assert record["id"] == "tls.expiry" and record["details.days_left"] == pytest.approx(days)


# -- trust --------------------------------------------------------------------------------


def test_trusted_by_custom_ca_even_with_othername_only(ca: CertificateAuthority) -> None:
    cert = leaf(ca, xmpp_addrs=("xiot.test",), srv_names=("_xmpp-client.xiot.test",))
    result = verify_chain([cert], anchors=[ca.cert])
    assert result.trusted and len(result.path) == 2
    assert trust_check("xiot.test", result).status == "ok"


def test_self_signed_not_trusted(ca: CertificateAuthority) -> None:
    cert, _ = self_signed(CertSpec("xiot.test", dns_names=("xiot.test",)))
    result = verify_chain([cert], anchors=[ca.cert])
    assert not result.trusted and result.error
    check = trust_check("xiot.test", result, "ep")
    assert check.status == "fail" and "not trusted" in check.message


def test_other_ca_not_trusted(ca: CertificateAuthority) -> None:
    other = CertificateAuthority.create("other CA")
    assert not verify_chain([leaf(other, dns_names=("xiot.test",))], anchors=[ca.cert]).trusted


def _ca(name: str, issuer: CertificateAuthority | None = None) -> CertificateAuthority:
    """A CA that may have CAs below it (the lab's has path length 0); self-signed without
    ``issuer``, else an intermediate signed by it."""
    from cryptography.hazmat.primitives.asymmetric import ec

    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
    signer_key = issuer.key if issuer else key
    cert = (x509.CertificateBuilder()
            .subject_name(subject)
            .issuer_name(issuer.cert.subject if issuer else subject)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(NOW - dt.timedelta(days=1))
            .not_valid_after(NOW + dt.timedelta(days=30))
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .add_extension(x509.KeyUsage(
                digital_signature=True, content_commitment=False, key_encipherment=False,
                data_encipherment=False, key_agreement=False, key_cert_sign=True, crl_sign=True,
                encipher_only=False, decipher_only=False), critical=True)
            .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), False)
            .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(
                signer_key.public_key()), False)
            .sign(signer_key, hashes.SHA256()))
    return CertificateAuthority(key=key, cert=cert)


@pytest.mark.parametrize(("case", "reason", "words"), [
    ("self-signed", "self-signed", "self-signed"),
    ("missing intermediate", "unknown-issuer", "does not send its intermediate"),
    ("untrusted root", "untrusted-root", "ends at the root CN=other root"),
    ("expired", "expired", "expired on"),
])
def test_chain_failures_are_told_apart(ca: CertificateAuthority, case: str, reason: str,
                                       words: str) -> None:
    """What an operator must do differs for each, so the message must say which it is."""
    other = _ca("other root")
    inter = _ca("issuing CA", other)
    chains = {
        "self-signed": [self_signed(CertSpec("xiot.test", dns_names=("xiot.test",)))[0]],
        "missing intermediate": [leaf(inter, dns_names=("xiot.test",))],
        "untrusted root": [leaf(inter, dns_names=("xiot.test",)), inter.cert, other.cert],
        "expired": [leaf(ca, dns_names=("xiot.test",), not_before=NOW - dt.timedelta(days=9),
                         not_after=NOW - dt.timedelta(days=1))],
    }
    result = verify_chain(chains[case], anchors=[ca.cert], store_name="custom (ca.pem)")
    assert not result.trusted and result.reason == reason
    assert words in (result.error or ""), result.error
    assert "candidates" not in (result.error or "")
    check = trust_check("xiot.test", result, "ep")
    assert check.status == "fail" and check.details["reason"] == reason
    if case == "missing intermediate":  # sending it makes the chain verify up to the anchor
        anchored = verify_chain([chains[case][0], inter.cert], anchors=[other.cert])
        assert anchored.trusted and anchored.reason is None


def test_system_store_does_not_trust_lab_ca(ca: CertificateAuthority) -> None:
    result = verify_chain([leaf(ca, dns_names=("xiot.test",))])
    assert not result.trusted and result.store == "system"


# -- loading and fingerprints --------------------------------------------------------------


def test_load_chain_forms(ca: CertificateAuthority) -> None:
    cert = leaf(ca, dns_names=("xiot.test",))
    der = cert.public_bytes(serialization.Encoding.DER)
    pem = cert.public_bytes(serialization.Encoding.PEM)
    ca_pem = ca.cert.public_bytes(serialization.Encoding.PEM)
    assert load_chain(der) == (cert,)
    assert load_chain(pem + ca_pem) == (cert, ca.cert)
    assert load_chain([der, ca.cert.public_bytes(serialization.Encoding.DER)]) == (cert, ca.cert)
    with pytest.raises(TLSError):
        load_chain(b"not a certificate")
    with pytest.raises(TLSError):
        load_chain([])


def test_load_ca_file(tmp_path: Path, ca: CertificateAuthority) -> None:
    path = tmp_path / "ca.pem"
    path.write_bytes(ca.cert.public_bytes(serialization.Encoding.PEM))
    assert load_ca_file(path) == (ca.cert,)
    with pytest.raises(UsageError):
        load_ca_file(tmp_path / "missing.pem")
    junk = tmp_path / "junk.pem"
    junk.write_text("hello")
    with pytest.raises(UsageError):
        load_ca_file(junk)


def test_fingerprints_and_same_cert(ca: CertificateAuthority) -> None:
    one = leaf(ca, dns_names=("xiot.test",))
    two = leaf(ca, dns_names=("xiot.test",))
    fp1, fp2 = fingerprint(one), fingerprint(two)
    assert len(fp1) == 95 and fp1.count(":") == 31 and fp1 != fp2
    same = same_certificate_check("xiot.test", {"a": fp1, "b": fp1})
    assert same.status == "ok"
    differ = {"a": fp1, "b": fp1, "c": fp2}
    assert group_by_fingerprint(differ) == {fp1: ("a", "b"), fp2: ("c",)}
    check = same_certificate_check("xiot.test", differ)
    assert check.status == "note" and "c" in check.message  # advice: each is judged alone
    assert same_certificate_check("xiot.test", {}).status == "skip"


def test_trust_policy_judges_a_chain_once_per_round(ca: CertificateAuthority) -> None:
    from xiot.probes.tls import TrustPolicy

    der = (leaf(ca, dns_names=("xiot.test",)).public_bytes(serialization.Encoding.DER),)
    other = (leaf(CertificateAuthority.create(name="other"), dns_names=("xiot.test",))
             .public_bytes(serialization.Encoding.DER),)
    policy = TrustPolicy((ca.cert,), "custom (ca.pem)")
    chain, trust = policy.judge_chain(der)
    assert trust.trusted and trust.store == "custom (ca.pem)"
    assert policy.judge_chain(der)[0] is chain  # the same chain is not parsed again
    assert not policy.judge_chain(other)[1].trusted
    fresh = TrustPolicy((ca.cert,), "custom (ca.pem)")
    assert fresh.judge_chain(der)[0] is not chain and fresh == policy
    with pytest.raises(TLSError):
        policy.judge_chain((b"junk",))
