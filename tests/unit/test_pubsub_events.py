"""Event notifications parsed from recorded stanzas (Prosody and ejabberd shapes)."""

from __future__ import annotations

import xml.etree.ElementTree as ET

from xiot.pubsub.core import error_info, remote_error
from xiot.pubsub.events import parse_events

EV = "http://jabber.org/protocol/pubsub#event"


def _msg(body: str, extra: str = "") -> ET.Element:
    return ET.fromstring(f'<message xmlns="jabber:client" from="pubsub.x" to="a@x">'
                         f'<event xmlns="{EV}">{body}</event>{extra}</message>')


def test_items_and_retractions_in_one_message():
    events = parse_events(_msg('<items node="n"><item id="1" publisher="d@x">'
                               '<t xmlns="urn:x">5</t></item><retract id="0"/></items>'))
    assert [(e.event, e.id, e.publisher) for e in events] == [
        ("item", "1", "d@x"), ("retract", "0", None)]
    record = events[0].to_record()
    assert record["payload"] == '<t xmlns="urn:x">5</t>' and record["node"] == "n"
    assert record["service"] == "pubsub.x"


def test_purge_delete_redirect_configuration_and_delay():
    stamp = '<delay xmlns="urn:xmpp:delay" stamp="2026-01-01T00:00:00Z"/>'
    purge = parse_events(_msg('<purge node="n"/>', stamp))[0]
    assert purge.event == "purge" and purge.delay == "2026-01-01T00:00:00Z"
    delete = parse_events(_msg('<delete node="n"><redirect uri="xmpp:pubsub.x?;node=m"/>'
                               '</delete>'))[0]
    assert (delete.event, delete.redirect) == ("delete", "xmpp:pubsub.x?;node=m")
    config = parse_events(_msg(
        '<configuration node="n"><x xmlns="jabber:x:data" type="result">'
        '<field var="FORM_TYPE"><value>x</value></field>'
        '<field var="pubsub#title"><value>T</value></field></x></configuration>'))[0]
    assert config.event == "config" and config.detail == {"title": "T"}
    assert config.to_record()["payload"] == "title=T"


def test_messages_without_an_event_give_nothing():
    plain = ET.fromstring('<message xmlns="jabber:client" from="a@x"><body>hi</body></message>')
    assert parse_events(plain) == []


def test_errors_name_the_node_and_the_missing_feature():
    iq = ET.fromstring(
        '<iq xmlns="jabber:client" type="error" from="pubsub.x"><error type="cancel">'
        '<feature-not-implemented xmlns="urn:ietf:params:xml:ns:xmpp-stanzas"/>'
        '<unsupported xmlns="http://jabber.org/protocol/pubsub#errors" feature="collections"/>'
        '</error></iq>')
    info = error_info(iq)
    assert (info.condition, info.detail, info.feature) == (
        "feature-not-implemented", "unsupported", "collections")
    error = remote_error(iq, "subscribe", "pubsub.x", "c")
    assert "pubsub.x does not support collection nodes (XEP-0248)" in error.message
    missing = ET.fromstring(
        '<iq xmlns="jabber:client" type="error"><error type="cancel">'
        '<item-not-found xmlns="urn:ietf:params:xml:ns:xmpp-stanzas"/></error></iq>')
    assert remote_error(missing, "purge the node", "pubsub.x", "n").message == \
        "cannot purge the node: node 'n' on pubsub.x does not exist"
