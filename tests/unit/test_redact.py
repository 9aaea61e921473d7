"""Credentials never survive into protocol debug logs."""

from __future__ import annotations

import base64
import logging

from xiot.redact import RedactingFilter, redact

PLAIN = base64.b64encode(b"\0ops\0hunter2").decode()


def test_plain_auth_payload_is_redacted():
    stanza = ("SEND: <auth xmlns='urn:ietf:params:xml:ns:xmpp-sasl' mechanism='PLAIN'>"
              f"{PLAIN}</auth>")
    cleaned = redact(stanza)
    assert PLAIN not in cleaned and "[redacted]" in cleaned
    assert "mechanism='PLAIN'" in cleaned


def test_registration_password_is_redacted():
    stanza = "<query xmlns='jabber:iq:register'><username>a</username><password>s3cret</password>"
    assert "s3cret" not in redact(stanza)


def test_other_stanzas_pass_unchanged():
    stanza = "<iq type='get'><ping xmlns='urn:xmpp:ping'/></iq>"
    assert redact(stanza) == stanza


def test_filter_rewrites_formatted_records():
    record = logging.LogRecord("slixmpp", logging.DEBUG, __file__, 1, "SEND: %s", (
        f"<auth xmlns=\"urn:ietf:params:xml:ns:xmpp-sasl\" mechanism=\"PLAIN\">{PLAIN}</auth>",),
        None)
    assert RedactingFilter().filter(record)
    assert PLAIN not in record.getMessage()
