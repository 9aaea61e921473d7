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
