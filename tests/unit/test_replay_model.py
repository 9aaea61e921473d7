"""Scenario files: the format, and bad input reported as file:line (exit 2)."""

from __future__ import annotations

import json

import pytest

from xiot.errors import ExitCode
from xiot.replay.model import STEP_KINDS, ScenarioError, load, load_text
from xiot.replay.schema import schema

GOOD = """\
name: ping
tags: [smoke]
requires: [urn:xmpp:ping]
actors:
  alice: {profile: testlab, resource: a}
  bob: {account: dev0031}
steps:
  - connect: alice
  - connect: bob
  - set: {greeting: hello}
  - send: alice
    xml: |
      <message to='${bob.full_jid}'><body>${greeting}</body></message>
  - expect: bob
    timeout: 3
    xml: |
      <message from='${alice.full_jid}' id='{capture:mid}'><body>hello</body></message>
  - send: bob
    xml: <message to='${alice.full_jid}'><thread>${mid}</thread></message>
  - expect-none: alice
    for: 0.5
  - wait: 0.1
  - disconnect: bob
"""


def error_of(text: str) -> str:
    with pytest.raises(ScenarioError) as caught:
        load_text(text, "s.yaml")
    assert caught.value.exit_code == ExitCode.USAGE
    return caught.value.message


def test_good_scenario_loads_with_lines():
    scenario = load_text(GOOD, "s.yaml")
    assert scenario.name == "ping" and scenario.tags == ("smoke",)
    assert [s.kind for s in scenario.steps] == ["connect", "connect", "set", "send", "expect",
                                                 "send", "expect-none", "wait", "disconnect"]
    assert [s.line for s in scenario.steps][:5] == [8, 9, 10, 11, 14]
    expect = scenario.steps[4]
    assert expect.timeout == 3 and expect.actor == "bob" and expect.xml_line == 17
    assert scenario.actor("alice").resource == "a"
    assert scenario.warnings == ()


def test_file_is_read(tmp_path):
    path = tmp_path / "x.yaml"
    path.write_text(GOOD)
    assert load(path).file == str(path)


def test_malformed_yaml_has_a_line():
    assert error_of("name: x\nactors: [\n").startswith("s.yaml:3: not valid YAML")


def test_unknown_step():
    text = GOOD.replace("  - wait: 0.1", "  - sleep: 0.1")
    assert error_of(text) == ("s.yaml:22: unknown step 'sleep' (steps: "
                              + ", ".join(STEP_KINDS) + ")")


def test_missing_xml():
    text = "name: x\nactors: {a: }\nsteps:\n  - connect: a\n  - send: a\n"
    assert error_of(text).startswith("s.yaml:5: send: missing field 'xml'")


def test_xml_not_well_formed():
    text = ("name: x\nactors: {a: }\nsteps:\n  - send: a\n    xml: |\n      <message>\n"
            "        <body>x</bod>\n      </message>\n")
    assert error_of(text) == "s.yaml:7: send: XML not well-formed (mismatched tag)"


def test_dtd_refused():
    text = ("name: x\nactors: {a: }\nsteps:\n  - send: a\n    xml: |\n"
            "      <!DOCTYPE m [<!ENTITY e 'x'>]><message/>\n")
    assert error_of(text).startswith("s.yaml:6: send: XML not well-formed")
    text = "name: x\nactors: {a: }\nsteps:\n  - send: a\n    xml: <message>&e;</message>\n"
    assert error_of(text) == "s.yaml:5: send: XML not well-formed (undefined entity)"


def test_undefined_variable():
    text = GOOD.replace("${greeting}", "${greting}")
    assert error_of(text).startswith("s.yaml:11: undefined variable ${greting}")


def test_variable_used_before_capture():
    text = GOOD.replace("<body>${greeting}</body>", "<body>${mid}</body>")
    assert error_of(text).startswith("s.yaml:11: undefined variable ${mid}")


def test_undefined_actor_in_step_and_in_variable():
    assert error_of(GOOD.replace("- connect: bob", "- connect: carol")) .startswith(
        "s.yaml:9: connect: undefined actor 'carol'")
    assert error_of(GOOD.replace("${bob.full_jid}", "${carol.full_jid}")).startswith(
        "s.yaml:11: undefined actor 'carol'")


def test_unknown_actor_attribute():
    assert "actors offer" in error_of(GOOD.replace("${bob.full_jid}", "${bob.password}"))


def test_no_inline_passwords():
    text = GOOD.replace("{account: dev0031}", "{account: dev0031, password: x}")
    assert error_of(text).startswith("s.yaml:6: actor bob: no passwords")


def test_missing_fields_and_unknown_fields():
    assert error_of("actors: {a: }\nsteps: [{connect: a}]\n") == "s.yaml:1: a scenario needs 'name'"
    assert error_of(GOOD.replace("tags:", "tagz:")).startswith("s.yaml:2: unknown field 'tagz'")
    assert error_of(GOOD.replace("    timeout: 3", "    timout: 3")).startswith(
        "s.yaml:15: expect: unknown field 'timout'")
    assert error_of(GOOD.replace("    for: 0.5", "")).startswith(
        "s.yaml:20: expect-none: missing field 'for'")


def test_two_kinds_in_one_step():
    assert "exactly one of" in error_of(GOOD.replace("- wait: 0.1", "- {wait: 1, connect: a}"))


def test_bad_values():
    assert "number of seconds" in error_of(GOOD.replace("wait: 0.1", "wait: soon"))
    assert "true or false" in error_of(GOOD.replace("timeout: 3", "strict: maybe"))


def test_capture_in_send_refused():
    assert "capture" in error_of(GOOD.replace("<thread>${mid}</thread>",
                                              "<thread>{capture:z}</thread>"))


def test_unused_actor_and_variable_warned():
    text = GOOD.replace("  bob: {account: dev0031}", "  bob: {account: dev0031}\n  carol:")
    text = text.replace("{greeting: hello}", "{greeting: hello, spare: x}")
    warnings = load_text(text, "s.yaml").warnings
    assert "s.yaml:7: actor 'carol' is never used" in warnings
    assert "s.yaml:11: variable 'spare' is set but never used" in warnings


def test_schema_is_json_and_names_every_step():
    text = json.dumps(schema())
    data = json.loads(text)
    kinds = [next(iter(s["properties"])) for s in data["properties"]["steps"]["items"]["oneOf"]]
    assert kinds == list(STEP_KINDS)
    assert data["required"] == ["name", "actors", "steps"]


def test_actor_by_jid_with_host_and_port():
    text = GOOD.replace("{account: dev0031}", "{jid: bob@example.test, host: 127.0.0.1, "
                                              "port: 5222}")
    bob = load_text(text, "s.yaml").actor("bob")
    assert (bob.jid, bob.host, bob.port, bob.password) == ("bob@example.test", "127.0.0.1",
                                                           5222, None)
    assert error_of(text.replace("port: 5222", "port: 99999")).startswith(
        "s.yaml:6: actor bob: port must be 1-65535")
    assert error_of(text.replace("{jid:", "{account: x, jid:")).startswith(
        "s.yaml:6: actor bob: give one of 'profile', 'account' or 'jid'")
