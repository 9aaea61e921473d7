"""Credentials never survive into protocol debug logs, and logging never ends a connection.

The lab logs in with SCRAM, where no secret travels, so a test over a real login proves
nothing about redaction.  These tests feed the filter the exchanges where a secret does
travel, recorded as slixmpp logs them (``SEND: ...`` with slixmpp's own serialisation), and
each fails if redaction is removed.
"""

from __future__ import annotations

import base64
import io
import logging
import xml.etree.ElementTree as ET

import pytest

from xiot.redact import MAX_CHARS, RedactingFilter, redact

PLAIN = base64.b64encode(b"\0ops\0hunter2").decode()

#: SASL PLAIN (RFC 4616) over TLS: the base64 of "\0user\0password".
PLAIN_AUTH = ('<auth xmlns="urn:ietf:params:xml:ns:xmpp-sasl" mechanism="PLAIN">'
              f"{PLAIN}</auth>")
#: XEP-0077 in-band registration.
REGISTRATION = ('<iq xmlns="jabber:client" type="set" to="xiot.test" id="reg1">'
                '<query xmlns="jabber:iq:register"><username>dev0001</username>'
                "<password>s3cret-reg</password></query></iq>")
#: XEP-0077 section 3.3: a logged-in user changes its password.
PASSWORD_CHANGE = ('<iq xmlns="jabber:client" type="set" to="xiot.test" id="chg1">'
                   '<query xmlns="jabber:iq:register"><username>ops</username>'
                   "<password>n3w-pass</password></query></iq>")
#: XEP-0133 change-user-password, a submitted data form (submitted fields carry no type).
ADMIN_CHANGE = (
    '<iq xmlns="jabber:client" type="set" to="xiot.test" id="adm1">'
    '<command xmlns="http://jabber.org/protocol/commands" '
    'node="http://jabber.org/protocol/admin#change-user-password">'
    '<x xmlns="jabber:x:data" type="submit">'
    '<field var="FORM_TYPE" type="hidden"><value>http://jabber.org/protocol/admin</value>'
    '</field><field var="accountjid"><value>dev0001@xiot.test</value></field>'
    '<field var="password"><value>adm1n-set</value></field></x></command></iq>')
#: XEP-0077 registration through a data form, a text-private field under another name.
FORM_REGISTRATION = (
    '<iq type="set" id="reg2"><query xmlns="jabber:iq:register">'
    '<x xmlns="jabber:x:data" type="submit"><field var="username"><value>dev2</value></field>'
    '<field var="secret" type="text-private"><value>f0rm-secret</value></field></x>'
    "</query></iq>")

SECRETS = [
    (PLAIN_AUTH, PLAIN), (REGISTRATION, "s3cret-reg"), (PASSWORD_CHANGE, "n3w-pass"),
    (ADMIN_CHANGE, "adm1n-set"), (FORM_REGISTRATION, "f0rm-secret"),
]


def logged(fmt: str, *args: object) -> str:
    """What one record looks like after a handler carrying the filter, as ``-vv`` sets up."""
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.addFilter(RedactingFilter())
    logger = logging.getLogger("tests.redact.slixmpp.xmlstream")
    logger.handlers[:] = [handler]
    logger.propagate = False
    logger.setLevel(logging.DEBUG)
    try:
        logger.debug(fmt, *args)
    finally:
        logger.handlers[:] = []
    return stream.getvalue()


@pytest.mark.parametrize("stanza,secret", SECRETS)
def test_secrets_sent_are_redacted_in_the_log(stanza, secret):
    out = logged("SEND: %s", stanza)
    assert secret not in out
    assert out.startswith("SEND: <") and "[redacted]" in out


def test_what_is_not_secret_stays_readable():
    out = logged("SEND: %s", PLAIN_AUTH)
    assert 'mechanism="PLAIN"' in out and "</auth>" in out
    out = logged("SEND: %s", ADMIN_CHANGE)
    assert "dev0001@xiot.test" in out and "http://jabber.org/protocol/admin<" in out
    out = logged("SEND: %s", REGISTRATION)
    assert "<username>dev0001</username>" in out


def test_stanzas_built_by_slixmpp_are_redacted():
    """The recordings above match what slixmpp serialises today."""
    from slixmpp import Iq
    from slixmpp.features.feature_mechanisms.stanza import Auth
    from slixmpp.plugins.xep_0077.stanza import Register
    from slixmpp.xmlstream import register_stanza_plugin

    register_stanza_plugin(Iq, Register)
    iq = Iq(stype="set", sto="xiot.test", sid="reg1")
    iq["register"]["username"] = "dev0001"
    iq["register"]["password"] = "s3cret-reg"
    assert str(iq) == REGISTRATION
    auth = Auth()
    auth["mechanism"] = "PLAIN"
    auth["value"] = b"\0ops\0hunter2"
    assert str(auth) == PLAIN_AUTH
    assert "hunter2" not in logged("SEND: %s", auth) and PLAIN not in logged("RECV: %s", auth)


@pytest.mark.parametrize("stanza", [
    "<iq type='get'><ping xmlns='urn:xmpp:ping'/></iq>",
    "<iq type='result'><query xmlns='jabber:iq:register'><username/><password/></query></iq>",
    "<auth xmlns='urn:ietf:params:xml:ns:xmpp-sasl' mechanism='EXTERNAL'/>",
])
def test_other_stanzas_pass_unchanged(stanza):
    assert redact(stanza) == stanza


def test_single_quoted_and_prefixed_forms_are_redacted():
    assert "hunter2" not in redact("<sasl:auth xmlns:sasl='urn:ietf:params:xml:ns:xmpp-sasl' "
                                   f"mechanism='PLAIN'>{PLAIN}</sasl:auth>")
    assert "s3" not in redact("<password xmlns='jabber:iq:auth'>s3</password>")


# -- logging never ends a connection -----------------------------------------------------


def deep_stanza(depth: int = 5000):
    """A slixmpp stanza nested ``depth`` levels deep, as a hostile peer could send."""
    from slixmpp import Message

    message = Message()
    element = message.xml
    for _ in range(depth):
        element = ET.SubElement(element, "{urn:example:deep}d")
    return message


def test_a_deep_stanza_is_logged_as_a_placeholder_without_raising():
    stanza = deep_stanza()
    with pytest.raises(RecursionError):
        str(stanza)  # what formatting it does
    out = logged("RECV: %s", stanza)
    assert out.startswith("RECV: [not shown: RecursionError")
    assert len(out) < 200


def test_a_record_whose_formatting_fails_in_any_way_is_still_logged():
    class Broken:
        def __str__(self) -> str:
            raise ValueError("boom")

    assert "[not shown: ValueError" in logged("RECV: %s", Broken())
    assert "[not shown: TypeError" in logged("two %s %s", "only-one")


def test_huge_messages_are_cut_and_a_secret_at_the_cut_is_not_half_shown():
    secret = "hunter2hunter2"
    text = "x" * (MAX_CHARS - 15) + f"<password>{secret}</password>" + "y" * 500_000
    out = redact(text)
    assert len(out) < MAX_CHARS + 100 and "more characters not logged" in out
    assert "hunt" not in out


def test_verbose_logging_of_the_cli_installs_the_filter(capsys):
    """``-vv`` sets up protocol logging; a PLAIN exchange logged by slixmpp stays redacted."""
    from xiot.cli import _configure_logging

    root = logging.getLogger()
    saved = (root.handlers[:], root.level, logging.getLogger("xiot").handlers[:],
             logging.getLogger("xiot").level, logging.getLogger("xiot").propagate)
    try:
        _configure_logging(2, False)
        logging.getLogger("slixmpp.xmlstream.xmlstream").debug("SEND: %s", PLAIN_AUTH)
        logging.getLogger("slixmpp.xmlstream.xmlstream").debug("RECV: %s", deep_stanza())
    finally:
        root.handlers[:], root.level = saved[0], saved[1]
        xlog = logging.getLogger("xiot")
        xlog.handlers[:], xlog.level, xlog.propagate = saved[2], saved[3], saved[4]
    err = capsys.readouterr().err
    assert "SEND: <auth" in err and PLAIN not in err
    assert "RECV: [not shown: RecursionError" in err and "Traceback" not in err

