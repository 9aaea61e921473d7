"""Turning a recorded exchange into a scenario (no network): variables, ids, wildcards,
captures, redaction, and the recorder's input grammar."""

from __future__ import annotations

import pytest

from xiot.cli import hoist_global_options
from xiot.commands.replay_record import ActorSpec, parse_actor, unique
from xiot.errors import UsageError
from xiot.replay.generalise import ActorIdentity, scenario_text
from xiot.replay.model import load_text, parse_stanzas
from xiot.replay.record import Entry, Journal, _stanzas_in

ALICE = "alice@xiot.test/rec-1"
BOB = "bob@xiot.test/rec-2"
ACTORS = [ActorIdentity("alice", {}, ALICE), ActorIdentity("bob", {"profile": "bobs"}, BOB)]


def _entry(actor, direction, xml=None):
    return Entry(actor, direction, 0.0, parse_stanzas(xml)[0] if xml else None)


def _scenario(*entries):
    text = scenario_text([_entry("alice", "connect"), _entry("bob", "connect"), *entries],
                         ACTORS, "t", "header")
    return text, load_text(text)


def _xml(scenario, index):
    return " ".join(scenario.steps[index].xml.split())


def test_actors_jids_and_domain_become_variables():
    text, scenario = _scenario(
        _entry("alice", "send", f"<message to='{BOB}'><body>hi</body></message>"),
        _entry("bob", "recv", f"<message from='{ALICE}' to='{BOB}'><body>hi</body></message>"),
        _entry("bob", "send", "<iq type='get' to='pubsub.xiot.test'><query "
                              "xmlns='http://jabber.org/protocol/disco#items'/></iq>"),
        _entry("bob", "send", "<presence to='alice@xiot.test'/>"))
    assert text.startswith("# header\n")
    assert "to='${bob.full_jid}'" in _xml(scenario, 2)
    assert "from='${alice.full_jid}'" in _xml(scenario, 3)
    assert "to='pubsub.${alice.domain}'" in _xml(scenario, 4)
    assert "to='${alice.jid}'" in _xml(scenario, 5)
    assert [a.profile for a in scenario.actors] == [None, "bobs"]
    assert "xiot.test" not in text.split("steps:")[1].replace("${", "")


def test_ids_the_actors_chose_are_renamed_the_same_everywhere():
    _, scenario = _scenario(
        _entry("alice", "send", "<iq type='get' id='a8f3c2d1e9'><ping xmlns='urn:xmpp:ping'/>"
                                "</iq>"),
        _entry("alice", "recv", f"<iq type='result' id='a8f3c2d1e9' to='{ALICE}'/>"),
        _entry("alice", "send", "<iq type='get' id='77'><query xmlns='jabber:iq:roster'/></iq>"),
        _entry("alice", "send", f"<message id='m-x' to='{BOB}'/>"),
        _entry("bob", "recv", f"<message id='m-x' to='{BOB}' from='{ALICE}'/>"))
    assert "id='ping-1'" in _xml(scenario, 2) and "id='ping-1'" in _xml(scenario, 3)
    assert "id='roster-1'" in _xml(scenario, 4)
    assert "id='message-1'" in _xml(scenario, 5) and "id='message-1'" in _xml(scenario, 6)


def test_volatile_received_values_are_wildcards():
    _, scenario = _scenario(
        _entry("alice", "recv",
               f"<message id='srv-1f2e3d4c5b' to='{ALICE}'><body>x</body>"
               "<delay xmlns='urn:xmpp:delay' stamp='2026-12-06T02:00:00Z'/></message>"),
        _entry("alice", "recv",
               f"<iq type='set' id='push1' to='{ALICE}'><query xmlns='jabber:iq:roster' "
               "ver='17'/></iq>"),
        _entry("alice", "recv",
               f"<message to='{ALICE}'><fields xmlns='urn:xmpp:iot:sensordata' seqnr='3'>"
               "<node nodeId='n1'><timestamp value='2026-12-06T02:00:00.5+01:00'>"
               "<numeric name='Temperature' value='21.53' unit='C'/></timestamp></node>"
               "</fields></message>"))
    xml = _xml(scenario, 2)
    assert "id='{any}'" in xml and "stamp='{any}'" in xml and "<body>x</body>" in xml
    assert "ver='{any}'" in xml
    assert "<timestamp value='{any}'>" in xml
    assert "name='Temperature' unit='C' value='{any}'" in xml
    assert "seqnr='3'" in xml and "nodeId='n1'" in xml
    assert len(scenario.steps) == 3  # one expect for the three stanzas in a row


def test_a_received_value_sent_back_later_is_captured():
    item = "5f2b8c1e-1234-4abc-9def-001122334455"
    _, scenario = _scenario(
        _entry("bob", "recv", f"<iq type='result' id='x1' to='{BOB}'><pubsub "
                              "xmlns='http://jabber.org/protocol/pubsub'><publish node='n'>"
                              f"<item id='{item}'/></publish></pubsub></iq>"),
        _entry("bob", "send", "<iq type='set' id='x2'><pubsub xmlns='http://jabber.org/"
                              f"protocol/pubsub'><retract node='n'><item id='{item}'/>"
                              "</retract></pubsub></iq>"))
    assert "<item id='{capture:id1}'/>" in _xml(scenario, 2)
    assert "<item id='${id1}'/>" in _xml(scenario, 3)


def test_passwords_and_tokens_are_redacted():
    text, scenario = _scenario(
        _entry("alice", "send", "<iq type='set'><query xmlns='jabber:iq:register'><username>u"
                                "</username><password>s3cret!</password></query></iq>"),
        _entry("alice", "send", "<iq type='set'><command xmlns='http://jabber.org/protocol/"
                                "commands'><x xmlns='jabber:x:data' type='submit'>"
                                "<field var='password-verify'><value>s3cret!</value></field>"
                                "<field var='pin' type='text-private'><value>1234</value>"
                                "</field><field var='accountjid'><value>u@x</value></field>"
                                "</x></command></iq>"),
        _entry("alice", "recv", f"<message to='{ALICE}'><token xmlns='urn:x'>abc</token>"
                                "</message>"))
    assert "s3cret!" not in text and "1234" not in text and ">abc<" not in text
    assert "<password>REDACTED</password>" in _xml(scenario, 2)
    assert _xml(scenario, 3).count("<value>REDACTED</value>") == 2
    assert "<value>u@x</value>" in _xml(scenario, 3)
    assert "<token xmlns='urn:x'>{any}</token>" in _xml(scenario, 4)


def test_answers_the_client_gives_by_itself_are_left_out():
    _, scenario = _scenario(
        _entry("alice", "recv", f"<iq type='set' id='push9' to='{ALICE}'><query "
                                "xmlns='jabber:iq:roster'/></iq>"),
        _entry("alice", "send", "<iq type='result' id='push9'/>"),
        _entry("alice", "send", "<iq type='result' id='unasked'/>"))
    assert [s.kind for s in scenario.steps] == ["connect", "connect", "expect", "send"]
    assert "type='result'" in _xml(scenario, 3)


def test_disconnect_and_an_empty_recording_load_back():
    _, scenario = _scenario(_entry("bob", "disconnect"))
    assert [s.kind for s in scenario.steps] == ["connect", "connect", "disconnect"]
    text = scenario_text([_entry("alice", "connect")], ACTORS, "nothing yet")
    assert [s.kind for s in load_text(text).steps] == ["connect"]


def test_only_stanzas_are_journaled_from_the_wire():
    assert _stanzas_in(" ") == []
    assert _stanzas_in("<auth xmlns='urn:ietf:params:xml:ns:xmpp-sasl' mechanism='PLAIN'>"
                       "AGEAYg==</auth>") == []
    assert _stanzas_in("<stream:stream to='x'>") == []
    found = _stanzas_in(b"<iq type='get' id='1'><ping xmlns='urn:xmpp:ping'/></iq>")
    assert [e.tag for e in found] == ["{jabber:client}iq"]


def test_the_journal_is_bounded():
    journal = Journal(limit=2)
    element = parse_stanzas("<presence/>")[0]
    for _ in range(5):
        journal.add("a", "recv", element)
    assert journal.stanzas() == 2 and journal.full


def test_actor_options():
    assert parse_actor("alice") == ActorSpec("alice")
    assert parse_actor("alice=home") == ActorSpec("alice", profile="home")
    assert parse_actor("dev=account:dev0001") == ActorSpec("dev", account="dev0001")
    assert parse_actor("dev=account:dev0001").yaml_fields() == {"account": "dev0001"}
    for bad in ("x y", "=p", "a=", "a=account:", "1a"):
        with pytest.raises(UsageError):
            parse_actor(bad)
    with pytest.raises(UsageError, match="given twice"):
        unique([ActorSpec("a"), ActorSpec("a")])


def test_a_commands_own_option_is_not_hoisted_to_the_root():
    assert hoist_global_options(["replay", "record", "-o", "x.yaml", "--debug"]) == [
        "--debug", "replay", "record", "-o", "x.yaml"]
    assert hoist_global_options(["readout", "d@x", "-o", "json"]) == [
        "-o", "json", "readout", "d@x"]
    assert hoist_global_options(["replay", "run", "f.yaml", "-o", "json"]) == [
        "-o", "json", "replay", "run", "f.yaml"]


def test_ids_the_server_chose_are_wildcards_whatever_they_look_like():
    # an archive's stanza-id (letters only), nested in a message; an item id the actor chose
    # comes back as it was sent
    _, scenario = _scenario(
        _entry("alice", "send", "<iq type='set' id='p1'><pubsub xmlns='http://jabber.org/"
                                "protocol/pubsub'><publish node='n'><item id='reading-1'/>"
                                "</publish></pubsub></iq>"),
        _entry("bob", "recv",
               f"<message to='{BOB}' from='pubsub.xiot.test'><event xmlns='http://jabber.org/"
               "protocol/pubsub#event'><items node='n'><item id='reading-1'/></items></event>"
               "<stanza-id xmlns='urn:xmpp:sid:0' by='bob@xiot.test' "
               "id='MvbFsfoDXwqojCnFiBd-jsOH'/></message>"))
    xml = _xml(scenario, 3)
    assert "<item id='reading-1'/>" in xml
    assert "<stanza-id xmlns='urn:xmpp:sid:0' by='${bob.jid}' id='{any}'/>" in xml
