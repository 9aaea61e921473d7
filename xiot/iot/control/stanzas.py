"""XEP-0325 stanza classes on slixmpp's ``ElementBase``, registered on ``Iq`` and ``Message``."""

from __future__ import annotations

from slixmpp import Iq, Message
from slixmpp.xmlstream import ElementBase, register_stanza_plugin

NS = "urn:xmpp:iot:control"


def q(tag: str) -> str:
    """The Clark name of a control element."""
    return f"{{{NS}}}{tag}"


class Set(ElementBase):
    """``set``: parameters (or a submitted form) to apply, in iq set or message."""

    name = "set"
    namespace = NS
    plugin_attrib = "iot_set"


class SetResponse(ElementBase):
    """``setResponse``: success, possibly listing the nodes/parameters actually used."""

    name = "setResponse"
    namespace = NS
    plugin_attrib = "iot_setResponse"


class GetForm(ElementBase):
    """``getForm``: ask for the control form (iq get)."""

    name = "getForm"
    namespace = NS
    plugin_attrib = "iot_getForm"


def register_stanzas() -> None:
    """Register the control payloads on ``Iq`` and ``Message`` (idempotent)."""
    for payload in (Set, SetResponse, GetForm):
        register_stanza_plugin(Iq, payload)
    register_stanza_plugin(Message, Set)


register_stanzas()
