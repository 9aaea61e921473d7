"""The lab's direct writes into Prosody's storage must match what Prosody would store."""

from __future__ import annotations

import base64
import hashlib
import hmac

from xiot.lab.accounts import encode_name, lua_table, scram_sha1_credentials
from xiot.lab.prosody import lua_string


def test_scram_keys_reproduce_rfc5802_example():
    """RFC 5802 section 5: user 'user', password 'pencil'; the client proof must match."""
    salt = base64.b64decode("QSXCR+Q6sek8bf92")
    creds = scram_sha1_credentials("pencil", salt, 4096)
    auth_message = (b"n=user,r=fyko+d2lbbFgONRv9qkxdawL,"
                    b"r=fyko+d2lbbFgONRv9qkxdawL3rfcNHYJY1ZVvWVs7j,s=QSXCR+Q6sek8bf92,i=4096,"
                    b"c=biws,r=fyko+d2lbbFgONRv9qkxdawL3rfcNHYJY1ZVvWVs7j")
    stored_key = bytes.fromhex(creds["stored_key"])
    server_key = bytes.fromhex(creds["server_key"])
    signature = hmac.new(stored_key, auth_message, hashlib.sha1).digest()
    server_signature = hmac.new(server_key, auth_message, hashlib.sha1).digest()
    assert base64.b64encode(server_signature) == b"rmF9pqV8S7suAoZWja4dJRkFsKQ="
    assert creds["iteration_count"] == 4096
    assert len(signature) == 20


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
