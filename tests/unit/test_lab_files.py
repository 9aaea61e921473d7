"""The lab's direct writes into Prosody's storage must match what Prosody would store."""

from __future__ import annotations

import base64
import hashlib
import hmac

from xiot.lab.accounts import encode_name, lua_table, scram_sha1_credentials
from xiot.lab.prosody import lua_string


def _hi(password: bytes, salt: bytes, iterations: int) -> bytes:
    """RFC 5802 section 2.2 Hi(), written out from the definition (not with pbkdf2_hmac)."""
    block = hmac.new(password, salt + b"\x00\x00\x00\x01", hashlib.sha1).digest()
    result = bytearray(block)
    for _ in range(iterations - 1):
        block = hmac.new(password, block, hashlib.sha1).digest()
        result = bytearray(a ^ b for a, b in zip(result, block, strict=True))
    return bytes(result)


def test_scram_keys_reproduce_rfc5802_example():
    """RFC 5802 section 5: user 'user', password 'pencil', 4096 iterations.

    The stored keys must be the exact bytes the RFC's definitions give, and with them a
    server must accept the RFC's ClientProof and produce its ServerSignature.
    """
    salt = base64.b64decode("QSXCR+Q6sek8bf92")
    creds = scram_sha1_credentials("pencil", salt, 4096)
    stored_key = bytes.fromhex(creds["stored_key"])
    server_key = bytes.fromhex(creds["server_key"])

    salted = _hi(b"pencil", salt, 4096)
    client_key = hmac.new(salted, b"Client Key", hashlib.sha1).digest()
    assert stored_key == hashlib.sha1(client_key).digest()
    assert server_key == hmac.new(salted, b"Server Key", hashlib.sha1).digest()
    assert creds["iteration_count"] == 4096

    auth_message = (b"n=user,r=fyko+d2lbbFgONRv9qkxdawL,"
                    b"r=fyko+d2lbbFgONRv9qkxdawL3rfcNHYJY1ZVvWVs7j,s=QSXCR+Q6sek8bf92,i=4096,"
                    b"c=biws,r=fyko+d2lbbFgONRv9qkxdawL3rfcNHYJY1ZVvWVs7j")
    # what a server holding only StoredKey does with the RFC's ClientProof
    client_proof = base64.b64decode("v0X8v3Bz2T0CJGbJQyF0X+HI4Ts=")
    client_signature = hmac.new(stored_key, auth_message, hashlib.sha1).digest()
    recovered = bytes(a ^ b for a, b in zip(client_proof, client_signature, strict=True))
    assert hashlib.sha1(recovered).digest() == stored_key
    server_signature = hmac.new(server_key, auth_message, hashlib.sha1).digest()
    assert base64.b64encode(server_signature) == b"rmF9pqV8S7suAoZWja4dJRkFsKQ="


def test_file_names_are_escaped_like_prosody():
    assert encode_name("xiot.test") == "xiot%2etest"
    assert encode_name("dev0001") == "dev0001"
    assert encode_name("a-b_c") == "a%2db%5fc"


def test_lua_serialisation_quotes_and_nests():
    text = lua_table({False: {"version": 1}, 'a"b': {"groups": {"x": True}}})
    assert "[false] = {" in text
    assert '["a\\"b"]' in text
    assert '["x"] = true;' in text
    assert lua_string("line\nbreak") == '"line\\010break"'


def _mode(path) -> int:  # type: ignore[no-untyped-def]
    import os
    import stat

    return stat.S_IMODE(os.stat(path).st_mode)


def test_lab_ca_and_server_keys_are_owner_only_whatever_the_umask(tmp_path):
    """The CA key signs certificates every lab client trusts: no one else may read it."""
    import os

    from xiot.lab.manager import _make_certificates

    old = os.umask(0)  # a permissive umask must not loosen the keys
    try:
        _make_certificates(tmp_path, "xiot.test")
    finally:
        os.umask(old)
    assert _mode(tmp_path / "ca.key") == 0o600
    assert _mode(tmp_path / "certs" / "server.key") == 0o600
    assert _mode(tmp_path / "certs") & 0o077 == 0


def test_rewriting_a_key_tightens_a_loose_file(tmp_path):
    from xiot.lab.ca import CertificateAuthority

    ca = CertificateAuthority.create()
    key = tmp_path / "ca.key"
    key.write_text("old")
    key.chmod(0o644)
    ca.write(tmp_path / "ca.pem", key)
    assert _mode(key) == 0o600
    assert key.read_bytes().startswith(b"-----BEGIN PRIVATE KEY-----")
