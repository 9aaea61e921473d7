"""``raw`` reads a typed stanza the way a server reads it: inside ``jabber:client``."""

from __future__ import annotations

import pytest

from xiot.errors import UsageError
from xiot.shell.raw import parse_stanza


def test_children_without_xmlns_are_in_the_stream_namespace():
    # A <body> in no namespace is sent as <body xmlns=''>, which clients do not display.
    element = parse_stanza("<message to='a@x'><body>hi</body><thread>t1</thread></message>")
    assert [child.tag for child in element] == ["{jabber:client}body",
                                                "{jabber:client}thread"]


def test_payload_namespaces_are_kept():
    element = parse_stanza("<iq type='get'><query xmlns='jabber:iq:roster'><item/></query></iq>")
    assert element[0].tag == "{jabber:iq:roster}query"
    assert element[0][0].tag == "{jabber:iq:roster}item"


@pytest.mark.parametrize("text", ["<presence/><presence/>", "text<presence/>",
                                  "<presence/>trailing"])
def test_one_stanza_at_a_time(text):
    with pytest.raises(UsageError, match="one stanza"):
        parse_stanza(text)
