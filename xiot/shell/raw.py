"""``raw``: send any stanza the user typed and show what comes back.

The XML is parsed with ``xiot.xmlsafe`` (no DTDs, bounded depth) before anything is sent, so
a typo is a usage error rather than a broken stream.  Top-level elements without a namespace
are put in ``jabber:client``, as a client stream's stanzas are.  An ``iq`` of type get or set
waits for its answer by id (an error answer is shown too, it is what the user asked to see),
bounded by the timeout; messages and presences are sent and not waited for.
"""

from __future__ import annotations

import uuid
import xml.etree.ElementTree as ET
from typing import TYPE_CHECKING

from xiot.errors import Timeout, UsageError

if TYPE_CHECKING:
    from xiot.xmpp.session import Session

CLIENT_NS = "jabber:client"
STANZAS = ("iq", "message", "presence")


def parse_stanza(text: str) -> ET.Element:
    """The stanza element of ``text``; ``UsageError`` for malformed XML or a non-stanza.

    The text is read inside the stream's default namespace, as a server reads it, so a
    ``<body>`` typed without ``xmlns`` is the ``jabber:client`` body clients display, not an
    element in no namespace that they ignore.
    """
    from xiot.xmlsafe import XmlError, fromstring

    try:
        wrapper = fromstring(f"<stanzas xmlns='{CLIENT_NS}'>{text.strip()}</stanzas>")
    except XmlError as exc:
        raise UsageError(f"not well-formed XML: {exc}",
                         "Type one stanza, e.g. raw <iq type='get' to='example.org'>"
                         "<ping xmlns='urn:xmpp:ping'/></iq>") from None
    if len(wrapper) != 1 or (wrapper.text or "").strip() or (wrapper[0].tail or "").strip():
        raise UsageError("raw sends one stanza at a time", "Type one <iq>, <message> or "
                                                           "<presence> per raw command")
    element = wrapper[0]
    element.tail = None
    if element.tag not in {f"{{{CLIENT_NS}}}{name}" for name in STANZAS}:
        raise UsageError(f"<{element.tag}> is not a stanza",
                         "Send an <iq>, <message> or <presence>")
    return element


async def send_raw(session: Session, element: ET.Element, timeout: float) -> str | None:
    """Send ``element``; for an iq get/set, return the answer's XML (else None)."""
    from slixmpp import Iq, Message, Presence
    from slixmpp.exceptions import IqError, IqTimeout

    from xiot.xmpp.iq import IqDispatcher

    client = session.client
    session.check_alive()
    if element.tag != f"{{{CLIENT_NS}}}iq" or element.get("type") not in ("get", "set"):
        kinds = {"iq": Iq, "message": Message, "presence": Presence}
        kinds[element.tag.rpartition("}")[2]](client, xml=element).send()
        return None
    if not element.get("id"):
        element.set("id", f"raw-{uuid.uuid4().hex[:10]}")
    iq = Iq(client, xml=element)
    try:
        reply = await session.state(IqDispatcher).send(iq, timeout)
    except IqError as exc:
        reply = exc.iq
    except IqTimeout:
        raise Timeout(f"no answer to iq {element.get('id')} within {timeout:g} s",
                      "Check the 'to' address, or raise --timeout") from None
    return str(reply)
