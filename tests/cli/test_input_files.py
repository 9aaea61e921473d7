"""Device lists and addresses as users give them: files, URIs, bad lines (end to end)."""

from __future__ import annotations

import os
import socket

from tests.helpers import xiot


def closed_port_env() -> dict[str, str]:
    """Settings whose server refuses connections: a connection attempt would exit 4, not 2."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    env = dict(os.environ)
    env.update(XIOT_JID="ops@x.test", XIOT_SERVER=f"127.0.0.1:{port}", XIOT_PASSWORD="pw",
               XIOT_TIMEOUT="3")
    return env


def test_a_bad_line_in_a_fleet_file_is_named_before_any_connection(tmp_path):
    listing = tmp_path / "devices.txt"
    listing.write_text("# plant 7\n" + "".join(f"dev{i}@x.test\n" for i in range(1, 6))
                       + "dev😀@x.test\n" + "dev8@x.test\n")
    line = xiot("readout", "--from-file", str(listing), env=closed_port_env()
                ).assert_clean_error(2)
    assert "devices.txt:7: malformed JID 'dev😀@x.test'" in line
    assert "U+1F600 GRINNING FACE" in line


def test_a_jid_slixmpp_would_refuse_is_a_usage_error_not_an_internal_one():
    result = xiot("readout", "dev@x.test/sensor\ufffd", env=closed_port_env())
    line = result.assert_clean_error(2)
    assert "internal error" not in line and "U+FFFD" in line


def test_a_bidi_override_is_named_not_echoed():
    line = xiot("readout", "a\u202eb@x.test", env=closed_port_env()).assert_clean_error(2)
    assert "\u202e" not in line and "U+202E RIGHT-TO-LEFT OVERRIDE" in line


def test_a_csv_with_a_byte_order_mark_from_stdin_is_read(fleet, lab_env):
    listing = "\ufeffjid,kind\r\ndev0003@xiot.test,relay\r\n"
    result = xiot("readout", "--from-file", "-", "--fields", "Output", env=lab_env,
                  stdin=listing)
    assert result.code == 0, result.stderr
    assert {row["jid"] for row in result.ndjson()} == {"dev0003@xiot.test/sim"}


def test_an_xmpp_uri_is_read_and_its_query_noted(fleet, lab_env):
    result = xiot("readout", "xmpp:dev0001@xiot.test?message;subject=hi", "--fields",
                  "Temperature", env=lab_env)
    assert result.code == 0, result.stderr
    assert {row["jid"] for row in result.ndjson()} == {"dev0001@xiot.test/sim"}
    assert "warning: xmpp: URI" in result.stderr and "?message;subject=hi" in result.stderr
