"""The replay matcher: namespaces, wildcards, strictness, order, captures, the diff."""

from __future__ import annotations

import pytest

from xiot.replay.match import compare, diff, expected_stanzas, similarity, substitute
from xiot.xmlsafe import fromstring


def exp(text: str, **variables: str):
    (one,) = expected_stanzas(text, variables)
    return one


def got(text: str):
    """A received stanza as slixmpp hands it over: in jabber:client."""
    return fromstring(f"<stream xmlns='jabber:client'>{text}</stream>")[0]


def ok(expected: str, received: str, **kw) -> bool:
    return compare(exp(expected), got(received), **kw).ok


def test_default_namespace_is_filled_in_and_attribute_order_ignored():
    assert ok("<iq type='result' id='a'/>", "<iq id='a' type='result' from='x@y'/>")


def test_whitespace_between_elements_ignored():
    assert ok("<message>\n  <body>hi</body>\n</message>", "<message><body> hi </body></message>")


def test_different_stanza_namespace_fails():
    expected = exp("<iq type='result'/>")
    received = fromstring("<iq xmlns='jabber:server' type='result'/>")
    assert not compare(expected, received).ok


def test_prefixes_do_not_matter():
    assert ok("<iq type='get'><ping xmlns='urn:xmpp:ping'/></iq>",
              "<iq type='get'><p:ping xmlns:p='urn:xmpp:ping'/></iq>")


def test_wrong_attribute_value_is_explained():
    result = compare(exp("<iq type='result' id='a'/>"), got("<iq type='error' id='a'/>"))
    assert not result.ok
    assert result.reason == "/iq@type: expected 'result', got 'error'"


def test_missing_attribute():
    result = compare(exp("<iq type='result' id='a'/>"), got("<iq type='result'/>"))
    assert "/iq@id missing" in result.reason


def test_extra_attributes_and_children_allowed_on_stanza():
    assert ok("<message to='a@b'/>",
              "<message to='a@b' from='c@d' id='1'><body>x</body><thread>t</thread></message>")


def test_children_in_any_order_when_not_strict():
    assert ok("<message><thread>t</thread><body>b</body></message>",
              "<message><body>b</body><thread>t</thread></message>")


def test_payload_in_own_namespace_is_strict_by_default():
    expected = "<iq type='result'><query xmlns='jabber:iq:version'><name>x</name></query></iq>"
    assert ok(expected, "<iq type='result'><query xmlns='jabber:iq:version'><name>x</name>"
                        "</query></iq>")
    result = compare(exp(expected), got(
        "<iq type='result'><query xmlns='jabber:iq:version'><name>x</name><os>l</os></query>"
        "</iq>"))
    assert not result.ok and "unexpected child <os" in result.reason


def test_strict_payload_refuses_extra_attribute():
    result = compare(exp("<iq><query xmlns='q' a='1'/></iq>"),
                     got("<iq><query xmlns='q' a='1' b='2'/></iq>"))
    assert not result.ok and "unexpected attribute b" in result.reason


def test_strict_payload_requires_order():
    expected = "<iq><q xmlns='n'><a/><b/></q></iq>"
    assert ok(expected, "<iq><q xmlns='n'><a/><b/></q></iq>")
    assert not ok(expected, "<iq><q xmlns='n'><b/><a/></q></iq>")


def test_switch_makes_payload_non_strict():
    expected = "<iq><query xmlns='d' replay:strict='false'><feature var='x'/></query></iq>"
    assert ok(expected, "<iq><query xmlns='d'><feature var='y'/><feature var='x'/></query></iq>")


def test_scansion_switch_is_understood():
    expected = "<iq><query xmlns='d' scansion:strict='false'><feature var='x'/></query></iq>"
    assert ok(expected, "<iq><query xmlns='d' extra='1'><feature var='x'/><z/></query></iq>")


def test_switch_makes_stanza_strict():
    assert not ok("<message replay:strict='true' to='a'/>", "<message to='a' from='b'/>")


def test_step_strict_makes_whole_stanza_strict():
    assert ok("<message to='a'/>", "<message to='a' id='x'/>")
    assert not ok("<message to='a'/>", "<message to='a' id='x'/>", strict=True)


def test_strict_inside_loosened_parent_stays_overridable():
    expected = ("<iq><q xmlns='n' replay:strict='false'><v xmlns='m' replay:strict='true'/></q>"
                "</iq>")
    assert ok(expected, "<iq><q xmlns='n' z='1'><x/><v xmlns='m'/></q></iq>")
    assert not ok(expected, "<iq><q xmlns='n'><v xmlns='m' y='2'/></q></iq>")


def test_any_attribute_requires_presence():
    assert ok("<iq id='{any}'/>", "<iq id='whatever'/>")
    assert not ok("<iq id='{any}'/>", "<iq/>")
    assert ok("<iq id='{scansion:any}'/>", "<iq id='w'/>")


def test_any_text():
    assert ok("<message><body>{any}</body></message>", "<message><body>hello</body></message>")


def test_text_compared_when_given():
    assert not ok("<message><body>a</body></message>", "<message><body>b</body></message>")


def test_missing_child_is_explained():
    result = compare(exp("<message><body>a</body></message>"), got("<message/>"))
    assert result.reason == "/message: missing child <body>"


def test_captures_bind_then_must_be_equal():
    first = compare(exp("<iq id='{capture:the_id}'/>"), got("<iq id='abc'/>"))
    assert first.ok and first.captures == {"the_id": "abc"}
    again = compare(exp("<message><body>{capture:the_id}</body></message>"),
                    got("<message><body>abc</body></message>"), first.captures)
    assert again.ok
    wrong = compare(exp("<iq id='{capture:the_id}'/>"), got("<iq id='xyz'/>"), first.captures)
    assert not wrong.ok and "expected 'abc', got 'xyz'" in wrong.reason


def test_capture_used_twice_in_one_stanza():
    expected = "<message id='{capture:x}'><thread>{capture:x}</thread></message>"
    assert ok(expected, "<message id='7'><thread>7</thread></message>")
    assert not ok(expected, "<message id='7'><thread>8</thread></message>")


def test_failed_attempt_does_not_leak_captures():
    # The first <item> candidate binds n=1, then fails on b; the second must be tried afresh.
    expected = "<message><item n='{capture:n}' b='2'/></message>"
    result = compare(exp(expected), got("<message><item n='1' b='1'/><item n='5' b='2'/>"
                                        "</message>"))
    assert result.ok and result.captures == {"n": "5"}


def test_unordered_children_need_distinct_partners():
    expected = "<message><x>{any}</x><x>b</x></message>"
    assert ok(expected, "<message><x>b</x><x>a</x></message>")
    assert not ok(expected, "<message><x>b</x></message>")


def test_variables_are_substituted_and_escaped():
    text = substitute("<message to='${alice.jid}'>${v}</message>",
                      {"alice.jid": "a@b", "v": "<&'>"})
    assert text == "<message to='a@b'>&lt;&amp;&apos;&gt;</message>"
    assert ok("<message to='${alice.jid}'/>".replace("${alice.jid}", "a@b"),
              "<message to='a@b'/>")


def test_similarity_prefers_closer_candidate():
    expected = exp("<iq type='result' id='p1'><ping xmlns='urn:xmpp:ping'/></iq>")
    near = got("<iq type='error' id='p1'><ping xmlns='urn:xmpp:ping'/></iq>")
    far = got("<iq type='get' id='zz'/>")
    assert similarity(expected, near) > similarity(expected, far)
    assert similarity(expected, got("<message/>")) == 0.0


def test_diff_shows_changed_lines_only_for_real_differences():
    expected = exp("<iq id='a' type='result'/>")
    received = got("<iq type='error'   id='a'/>")
    text = diff(expected, received)
    assert "-<iq id='a' type='result'/>" in text
    assert "+<iq id='a' type='error'/>" in text
    assert diff(exp("<iq id='a'/>"), got("<iq  id='a'></iq>")) == ""


@pytest.mark.parametrize("bad", ["<iq>", "<!DOCTYPE x><iq/>"])
def test_expected_text_must_be_safe_xml(bad):
    from xiot.xmlsafe import XmlError

    with pytest.raises(XmlError):
        expected_stanzas(bad, {})


def test_a_diff_shows_the_strict_switches_as_they_are_written():
    (expected,) = expected_stanzas(
        "<iq type='result'><query xmlns='jabber:iq:version' scansion:strict='true'>"
        "<version replay:strict='false'/></query></iq>", {})
    received = fromstring("<iq xmlns='jabber:client' type='result'><query "
                          "xmlns='jabber:iq:version'><version>1</version><os>x</os></query></iq>")
    shown = diff(expected, received)
    assert "<query xmlns='jabber:iq:version' scansion:strict='true'>" in shown
    assert "<version replay:strict='false'/>" in shown
    assert "{https://" not in shown and "{urn:" not in shown
