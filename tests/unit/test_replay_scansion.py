"""Scansion scripts: parsing the format (comments, characters, verbs), and back."""

from __future__ import annotations

from pathlib import Path

import pytest

from xiot.errors import ExitCode
from xiot.replay.model import ScenarioError, load_text
from xiot.replay.scansion import parse_scs, to_scs, to_yaml

SCS = (Path(__file__).parents[1] / "integration" / "replay" / "scs" / "ping.scs").read_text()


def test_script_parses_to_steps():
    scenario = parse_scs(SCS, "p.scs")
    assert scenario.name == "Ping between two resources"
    assert scenario.description == "written from the format description"
    assert scenario.tags == ("smoke", "status: stable")
    assert [(a.name, a.jid, a.resource) for a in scenario.actors] == [
        ("romeo", "admin@xiot.test", "balcony"), ("romeo_s_phone", "admin@xiot.test", "phone")]
    assert scenario.actors[0].password == "PLACEHOLDER"
    assert "PLACEHOLDER" not in repr(scenario)
    assert [(s.kind, s.actor, s.line) for s in scenario.steps] == [
        ("connect", "romeo", 19), ("connect", "romeo_s_phone", 21),
        ("send", "romeo_s_phone", 24), ("expect", "romeo_s_phone", 29),
        ("send", "romeo", 33), ("expect", "romeo", 36), ("expect-none", "romeo", 39),
        ("disconnect", "romeo", 41)]
    send, expect = scenario.steps[2], scenario.steps[3]
    assert "to=\"${romeo.full_jid}\"" in send.xml and send.xml_line == 25
    assert 'id="{any}"' in expect.xml
    assert 'id="{capture:pid}"' in scenario.steps[5].xml


def test_yaml_written_never_holds_the_password_and_loads_back():
    text = to_yaml(parse_scs(SCS, "p.scs"))
    assert "PLACEHOLDER" not in text and "password" not in text
    again = load_text(text, "p.yaml")
    assert [s.kind for s in again.steps] == [s.kind for s in parse_scs(SCS).steps]
    assert again.actors[1].resource == "phone"


def test_export_back_to_scansion_round_trips():
    scenario = parse_scs(SCS, "p.scs")
    text = to_scs(scenario)
    assert "${Romeo's full JID}" in text and "{scansion:any}" in text
    assert "{scansion:capture:pid}" in text
    assert "Romeo receives: nothing" in text
    again = parse_scs(text, "q.scs")
    assert [(s.kind, s.actor) for s in again.steps] == [(s.kind, s.actor)
                                                       for s in scenario.steps]
    assert [s.xml for s in again.steps] == [s.xml for s in scenario.steps]


def test_export_refuses_what_scansion_cannot_say():
    scenario = load_text("name: x\nactors: {a: }\nsteps:\n  - connect: a\n  - wait: 1\n", "w.yaml")
    with pytest.raises(ScenarioError) as caught:
        to_scs(scenario)
    assert caught.value.message.startswith("w.yaml:5: wait")


@pytest.mark.parametrize(("text", "message"), [
    ("[Client] A\n\tjid: a@b\n-----\nA dances\n", "x.scs:4: expected '<Name> connects"),
    ("[Client] A\n\tjid: a@b\n-----\nA sends:\n\t<message>\n", "x.scs:5: send: XML not "
                                                                 "well-formed"),
    ("[Client] A\n\tjid: a@b\n-----\nA sends:\n\t<message to=\"${B's JID}\"/>\n",
     "x.scs:4: undefined character 'B'"),
    ("[Client] A\n-----\nA connects\n", "x.scs:1: character 'A' has no jid"),
    ("-----\nA connects\n", "x.scs:1: no [Client] characters declared"),
    ("[Client] A\n\tjid: a@b\n-----\nA receives:\n", "x.scs:4: 'receives' without an XML"),
])
def test_bad_scripts_say_where(text, message):
    with pytest.raises(ScenarioError) as caught:
        parse_scs(text, "x.scs")
    assert caught.value.exit_code == ExitCode.USAGE
    assert caught.value.message.startswith(message)


def test_colon_optional_and_comment_forms():
    text = ("# t\n[Client] A\n\tjid: a@b\n-----\n// c\n-- c\n# c\nA connects\n"
            "A sends\n\t<presence/>\nA receives\n\t<presence/>\n")
    assert [s.kind for s in parse_scs(text).steps] == ["connect", "send", "expect"]
