"""A private certificate authority for the lab and for probe fixtures.

The lab must verify TLS exactly as production does, so it gets its own CA rather than a
self-signed leaf: clients trust the CA file (``--ca``) and the server presents a leaf signed by
it.  The same code issues the odd certificates that probe tests need (expired, wrong name,
names only in XmppAddr or SRVName otherName entries).
"""

from __future__ import annotations

import datetime as dt
import ipaddress
from dataclasses import dataclass, field
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID, ObjectIdentifier

#: id-on-xmppAddr (RFC 6120 section 13.7.1.4)
XMPP_ADDR_OID = ObjectIdentifier("1.3.6.1.5.5.7.8.5")
#: id-on-dnsSRV (RFC 4985)
SRV_NAME_OID = ObjectIdentifier("1.3.6.1.5.5.7.8.7")


def _utf8_string_der(text: str) -> bytes:
    """DER-encode a UTF8String, the value type of an XmppAddr otherName."""
    return _der(0x0C, text.encode("utf-8"))


def _ia5_string_der(text: str) -> bytes:
    """DER-encode an IA5String, the value type of an SRVName otherName."""
    return _der(0x16, text.encode("ascii"))


def _der(tag: int, body: bytes) -> bytes:
    size = len(body)
    if size < 0x80:
        length = bytes([size])
    else:
        raw = size.to_bytes((size.bit_length() + 7) // 8, "big")
        length = bytes([0x80 | len(raw)]) + raw
    return bytes([tag]) + length + body


@dataclass(frozen=True)
class CertSpec:
    """What a leaf certificate should say; defaults give a valid server certificate."""

    common_name: str
    dns_names: tuple[str, ...] = ()
    ip_addresses: tuple[str, ...] = ()
    xmpp_addrs: tuple[str, ...] = ()
    srv_names: tuple[str, ...] = ()
    not_before: dt.datetime | None = None
    not_after: dt.datetime | None = None
    days: int = 365


@dataclass
class CertificateAuthority:
    """A CA key and certificate held in memory, able to issue leaves."""

    key: ec.EllipticCurvePrivateKey
    cert: x509.Certificate
    issued: list[x509.Certificate] = field(default_factory=list)

    @classmethod
    def create(cls, name: str = "xiot lab CA", days: int = 3650) -> CertificateAuthority:
        key = ec.generate_private_key(ec.SECP256R1())
        subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
        now = _now()
        cert = (
            x509.CertificateBuilder()
            .subject_name(subject)
            .issuer_name(subject)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - dt.timedelta(minutes=5))
            .not_valid_after(now + dt.timedelta(days=days))
            .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
            .add_extension(
                x509.KeyUsage(
                    digital_signature=True, content_commitment=False, key_encipherment=False,
                    data_encipherment=False, key_agreement=False, key_cert_sign=True,
                    crl_sign=True, encipher_only=False, decipher_only=False,
                ),
                critical=True,
            )
            .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), False)
            .sign(key, hashes.SHA256())
        )
        return cls(key=key, cert=cert)

    @classmethod
    def load(cls, cert_path: Path, key_path: Path) -> CertificateAuthority:
        cert = x509.load_pem_x509_certificate(cert_path.read_bytes())
        key = serialization.load_pem_private_key(key_path.read_bytes(), password=None)
        if not isinstance(key, ec.EllipticCurvePrivateKey):
            raise ValueError(f"{key_path} does not hold an EC private key")
        return cls(key=key, cert=cert)

    def issue(self, spec: CertSpec) -> tuple[x509.Certificate, ec.EllipticCurvePrivateKey]:
        """Issue a server/client leaf certificate for ``spec``."""
        key = ec.generate_private_key(ec.SECP256R1())
        now = _now()
        not_before = spec.not_before or now - dt.timedelta(minutes=5)
        not_after = spec.not_after or now + dt.timedelta(days=spec.days)
        builder = (
            x509.CertificateBuilder()
            .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, spec.common_name)]))
            .issuer_name(self.cert.subject)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(not_before)
            .not_valid_after(not_after)
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(
                x509.ExtendedKeyUsage(
                    [ExtendedKeyUsageOID.SERVER_AUTH, ExtendedKeyUsageOID.CLIENT_AUTH]
                ),
                critical=False,
            )
            .add_extension(
                x509.AuthorityKeyIdentifier.from_issuer_public_key(self.key.public_key()), False
            )
        )
        names = _general_names(spec)
        if names:
            builder = builder.add_extension(x509.SubjectAlternativeName(names), critical=False)
        cert = builder.sign(self.key, hashes.SHA256())
        self.issued.append(cert)
        return cert, key

    def write(self, cert_path: Path, key_path: Path) -> None:
        write_pem(cert_path, key_path, self.cert, self.key)


def _general_names(spec: CertSpec) -> list[x509.GeneralName]:
    names: list[x509.GeneralName] = [x509.DNSName(n) for n in spec.dns_names]
    names += [x509.IPAddress(ipaddress.ip_address(a)) for a in spec.ip_addresses]
    names += [x509.OtherName(XMPP_ADDR_OID, _utf8_string_der(a)) for a in spec.xmpp_addrs]
    names += [x509.OtherName(SRV_NAME_OID, _ia5_string_der(s)) for s in spec.srv_names]
    return names


def write_pem(
    cert_path: Path, key_path: Path, cert: x509.Certificate, key: ec.EllipticCurvePrivateKey
) -> None:
    """Write a certificate and its key; the key file is created private (0600)."""
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_bytes = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    key_path.touch(mode=0o600, exist_ok=True)
    key_path.chmod(0o600)
    key_path.write_bytes(key_bytes)


def self_signed(spec: CertSpec) -> tuple[x509.Certificate, ec.EllipticCurvePrivateKey]:
    """A leaf that signs itself: what a forgotten default install presents."""
    ca = CertificateAuthority.create(name=spec.common_name, days=spec.days)
    return ca.cert, ca.key


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC).replace(microsecond=0)
