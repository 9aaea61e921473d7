"""Feed stanzas to one slixmpp stream's handlers and collect what they send back.

No server is involved and none is imitated: a ``Peer`` is an unconnected ``ClientXMPP`` whose
``send`` appends to a list.  Tests deliver stanzas (catalogue vectors, or what another peer's
handlers produced) with ``deliver`` and inspect the replies.  ``pump`` only moves the stanzas
two peers' handlers produced to each other; there is no routing, presence or error
generation, so integration behaviour is left to the tests against the real lab server.
"""

from __future__ import annotations

import asyncio
import xml.etree.ElementTree as ET

import slixmpp

CLIENT_NS = "jabber:client"


class Peer:
    """One XMPP entity's handler set, with its outgoing stanzas captured."""

    def __init__(self, jid: str) -> None:
        self.jid = slixmpp.JID(jid)
        self.xmpp = slixmpp.ClientXMPP(jid, "not-used")
        self.sent: list[slixmpp.xmlstream.StanzaBase] = []
        self.xmpp.send = self.sent.append  # type: ignore[method-assign]
        self._session = None

    @property
    def session(self):  # type: ignore[no-untyped-def]
        """A Session around this peer's stream, owning its per-connection state."""
        from xiot.xmpp.session import Session

        if self._session is None:
            self._session = Session.over(self.xmpp)
        return self._session

    def watch_stream(self) -> None:
        """Let the session notice a dropped stream, as ``Session.open`` arranges it."""
        session = self.session
        session._lost_waiter = asyncio.get_running_loop().create_future()
        self.xmpp.add_event_handler("disconnected", session._on_disconnected)

    def drop(self) -> None:
        """The stream ends under this peer (the server went away)."""
        self.xmpp.event("disconnected", "test: stream dropped")

    def deliver(self, stanza: str | ET.Element, sender: str | None = None) -> None:
        """Run this peer's handlers on ``stanza`` as if it had arrived on the stream."""
        xml = ET.fromstring(stanza) if isinstance(stanza, str) else stanza
        if sender is not None:
            xml.set("from", sender)
        xml.set("to", str(self.jid))
        self.xmpp.recv_stanza(self.xmpp._build_stanza(xml))

    def take(self) -> list[ET.Element]:
        """Everything sent since the last call, as fresh XML stamped with our JID as sender."""
        out = []
        for stanza in self.sent:
            xml = ET.fromstring(ET.tostring(stanza.xml))
            xml.set("from", str(self.jid))
            out.append(xml)
        self.sent.clear()
        return out

    def last(self) -> ET.Element:
        return self.take()[-1]


async def settle() -> None:
    """Let tasks started by handlers run until they block."""
    for _ in range(5):
        await asyncio.sleep(0)


async def pump(a: Peer, b: Peer, rounds: int = 50) -> None:
    """Hand each peer's output to the other until both are quiet."""
    for _ in range(rounds):
        await settle()
        outgoing_a, outgoing_b = a.take(), b.take()
        if not outgoing_a and not outgoing_b:
            return
        for xml in outgoing_a:
            b.deliver(xml)
        for xml in outgoing_b:
            a.deliver(xml)


def q(ns: str, tag: str) -> str:
    return f"{{{ns}}}{tag}"
