"""Splitting shell input into commands, and the device context (no network)."""

from __future__ import annotations

import io

import pytest

from xiot.errors import UsageError
from xiot.runtime import Environment
from xiot.shell.engine import Shell
from xiot.shell.script import commands_of, split_line


def test_semicolons_newlines_and_comments_separate_commands():
    script = "ping -c 2; disco  # the server\n# a whole comment line\n\nxiot readout a@b -o json\n"
    assert list(commands_of(io.StringIO(script))) == [
        ["ping", "-c", "2"], ["disco"], ["readout", "a@b", "-o", "json"]]


def test_quotes_keep_semicolons_and_may_span_lines():
    assert split_line("pubsub publish n 'a; b'") == [["pubsub", "publish", "n", "a; b"]]
    assert list(commands_of(["control x set 'Text=one\n", "two'\n", "ping\n"])) == [
        ["control", "x", "set", "Text=one\ntwo"], ["ping"]]


def test_an_unclosed_quote_at_the_end_is_a_usage_error():
    with pytest.raises(UsageError):
        list(commands_of(["ping 'oops\n"]))


def test_raw_takes_the_rest_of_the_line_unquoted_and_waits_for_a_whole_stanza():
    assert split_line("raw <iq type='get' to='x'><ping xmlns='urn:xmpp:ping'/></iq>") == [
        ["raw", "<iq type='get' to='x'><ping xmlns='urn:xmpp:ping'/></iq>"]]
    assert split_line("raw --timeout 2 <presence/>") == [["raw", "--timeout", "2", "<presence/>"]]
    assert list(commands_of(["raw <message to='a@b'>\n", "<body>hi</body></message>\n",
                             "ping\n"])) == [
        ["raw", "<message to='a@b'>\n<body>hi</body></message>"], ["ping"]]


def _shell() -> Shell:
    env = Environment(stdin=io.StringIO(), stdout=io.StringIO(), stderr=io.StringIO(),
                      stdout_isatty=False, stderr_isatty=False, stdin_isatty=False)
    return Shell(None, env)  # type: ignore[arg-type]


def test_use_supplies_the_device_only_where_none_is_given():
    shell = _shell()
    assert shell.with_context(["readout"]) == ["readout"]
    shell.device = "dev1@x.org"
    assert shell.with_context(["readout", "--fields", "T"]) == [
        "readout", "dev1@x.org", "--fields", "T"]
    assert shell.with_context(["readout", "dev2@x.org"]) == ["readout", "dev2@x.org"]
    assert shell.with_context(["readout", "-f", "list.txt"]) == ["readout", "-f", "list.txt"]
    assert shell.with_context(["control", "set", "A=1"]) == ["control", "dev1@x.org", "set",
                                                            "A=1"]
    assert shell.with_context(["control", "dev2@x.org", "form"]) == [
        "control", "dev2@x.org", "form"]
    assert shell.with_context(["ping"]) == ["ping"]


def test_raw_accepts_only_well_formed_stanzas_and_puts_them_in_jabber_client():
    from xiot.shell.raw import parse_stanza

    element = parse_stanza("<iq type='get' to='x'><ping xmlns='urn:xmpp:ping'/></iq>")
    assert element.tag == "{jabber:client}iq"
    assert element[0].tag == "{urn:xmpp:ping}ping"
    for bad in ("<iq", "<stream:features/>", "<foo/>",
                "<!DOCTYPE x [<!ENTITY a 'b'>]><message>&a;</message>"):
        with pytest.raises(UsageError):
            parse_stanza(bad)


def test_service_and_node_context_for_pubsub_commands():
    shell = _shell()
    shell.service, shell.node = "pubsub.x.org", "sensors"
    assert shell.with_context(["pubsub", "items"]) == [
        "pubsub", "items", "--service", "pubsub.x.org", "sensors"]
    assert shell.with_context(["pubsub", "items", "other"]) == [
        "pubsub", "items", "--service", "pubsub.x.org", "other"]
    assert shell.with_context(["pubsub", "publish", "r.xml"]) == [
        "pubsub", "publish", "--service", "pubsub.x.org", "sensors", "r.xml"]
    assert shell.with_context(["pubsub", "list"]) == [
        "pubsub", "list", "--service", "pubsub.x.org"]
    assert shell.with_context(["pubsub", "items", "--pep"]) == [
        "pubsub", "items", "sensors", "--pep"]
    assert shell.with_context(["pubsub", "config", "get", "-o", "json"]) == [
        "pubsub", "config", "get", "--service", "pubsub.x.org", "sensors", "-o", "json"]
    assert shell.context_text() == "pubsub.x.org:sensors"


def test_messages_and_pubsub_notifications_become_one_safe_line_each():
    from xiot.shell.events import event_lines
    from xiot.xmlsafe import fromstring

    message = fromstring("<message xmlns='jabber:client' from='a@b/r'>"
                         "<body>hi\u202e\x9b\nsecond</body></message>")
    assert event_lines(message) == ["* message from a@b/r: hi\\u202e\\x9b (+1 lines)"]
    event = fromstring(
        "<message xmlns='jabber:client' from='pubsub.b'>"
        "<event xmlns='http://jabber.org/protocol/pubsub#event'><items node='sensors'>"
        "<item id='i1'><t xmlns='urn:t'>1</t></item></items></event></message>")
    assert event_lines(event) == ["* pubsub item on sensors (pubsub.b) id i1"]
    assert event_lines(fromstring("<message xmlns='jabber:client' from='a@b'/>")) == []
