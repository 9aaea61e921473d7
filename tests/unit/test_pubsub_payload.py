"""Payloads: XML parsed without DTDs, written back namespace by namespace; JSON containers."""

from __future__ import annotations

import pytest

from xiot.errors import UsageError
from xiot.pubsub.payload import json_of, namespace_of, parse_json, parse_xml, to_text


@pytest.mark.parametrize("text", [
    '<t xmlns="urn:x" unit="C">21.5</t>',
    '<a><b>x</b>tail</a>',
    '<a xmlns="u"><b xmlns="">x &amp; &lt;y&gt;</b></a>',
    '<t xmlns="urn:x" a0:q="z" xmlns:a0="urn:b"><w xmlns="urn:b">t</w></t>',
])
def test_round_trip_keeps_each_elements_namespace(text):
    assert to_text(parse_xml(text)) == text


def test_prefixed_input_is_written_with_default_namespaces():
    parsed = parse_xml('<p:t xmlns:p="urn:x"><p:v>1</p:v></p:t>')
    assert to_text(parsed) == '<t xmlns="urn:x"><v>1</v></t>'
    assert namespace_of(parsed) == "urn:x"


@pytest.mark.parametrize(("text", "says"), [
    ("<a><b></a>", "is not well-formed XML (mismatched tag, line 1, column 8)"),
    ("<a/><b/>", "junk after document element"),
    ("", "no element found"),
    ("<a>&x;</a>", "undefined entity"),
    ('<!DOCTYPE a [<!ENTITY x "boom">]><a>&x;</a>', "is refused: the document declares a DTD"),
    ('<!DOCTYPE a SYSTEM "file:///etc/passwd"><a/>', "is refused: the document declares a DTD"),
    ('<?xml version="1.0"?><!DOCTYPE a><a/>', "is refused: the document declares a DTD"),
])
def test_bad_or_dangerous_xml_is_a_usage_error_naming_the_source(text, says):
    with pytest.raises(UsageError) as caught:
        parse_xml(text, "reading.xml")
    assert caught.value.exit_code == 2
    assert caught.value.message.startswith("reading.xml ")
    assert says in caught.value.message


def test_json_goes_into_a_xep_0335_container_and_back():
    element = parse_json('{"t": 21.5, "tags": ["a", "<b>"]}')
    assert to_text(element) == \
        '<json xmlns="urn:xmpp:json:0">{"t":21.5,"tags":["a","&lt;b&gt;"]}</json>'
    assert json_of(element) == {"t": 21.5, "tags": ["a", "<b>"]}
    assert json_of(parse_xml('<t xmlns="urn:x">1</t>')) is None
    assert json_of(None) is None
    with pytest.raises(UsageError, match="stdin is not valid JSON"):
        parse_json("{'no': 1}", "stdin")
