"""Iq requests answered through one handler that finds the waiter by id.

slixmpp's ``Iq.send()`` registers a handler per outstanding request, and every incoming stanza
is matched against every handler: with a hundred readouts in flight, each of the thousands of
stanzas of a fleet readout is tested a hundred times, the largest single cost of a fleet
readout.  Here one handler per connection looks the reply's id up in a dictionary.

The dispatcher is Session state (``session.state(IqDispatcher)``): when the stream is lost,
every waiter gets ``ConnectionLost`` at once, without a guard task per request.  Replies are
accepted only from the entity the request was addressed to (or, for a request to our own
server, from the server or our own bare JID), as slixmpp does, so another entity cannot answer
for a device.
"""

from __future__ import annotations

import asyncio
import logging
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from slixmpp import Iq

    from xiot.errors import XiotError
    from xiot.xmpp.session import Session

log = logging.getLogger("xiot")

_IQ_TAG = "{jabber:client}iq"


class IqDispatcher:
    """Sends iqs and resolves each waiter from one handler, by id."""

    def __init__(self, session: Session) -> None:
        from slixmpp.xmlstream.handler import Callback

        self.session = session
        client = session.client
        self._own = {"", str(client.boundjid.bare), client.boundjid.domain}
        #: id -> (future, JID the reply must come from)
        self.pending: dict[str, tuple[asyncio.Future[Iq], str]] = {}
        client.register_handler(Callback("xiot-iq-replies", _PendingReplies(self.pending),
                                         self._on_reply))

    async def send(self, iq: Iq, timeout: float) -> Iq:
        """Send ``iq`` and return the result; ``IqError`` for an error reply, ``IqTimeout``
        after ``timeout`` seconds, ``ConnectionLost`` if the stream ends first."""
        from slixmpp.exceptions import IqError, IqTimeout

        self.session.check_alive()
        loop = asyncio.get_running_loop()
        future: asyncio.Future[Iq] = loop.create_future()
        key = iq["id"]
        self.pending[key] = (future, str(iq["to"]))

        def expire() -> None:
            if not future.done():
                future.set_exception(IqTimeout(iq))

        timer = loop.call_later(timeout, expire)
        try:
            self.session.client.send(iq)
            reply = await future
        finally:
            timer.cancel()
            self.pending.pop(key, None)
        if reply["type"] == "error":
            raise IqError(reply)
        return reply

    def _on_reply(self, reply: Iq) -> None:
        entry = self.pending.get(reply["id"])
        if entry is None:
            return
        future, expected = entry
        sender = str(reply["from"])
        if sender != expected and not (expected in self._own and sender in self._own):
            log.debug("ignoring a reply to %s from %s (sent to %s)", reply["id"], sender,
                      expected)
            return
        del self.pending[reply["id"]]
        if not future.done():
            future.set_result(reply)

    def connection_lost(self, error: XiotError) -> None:
        """Every waiter stops waiting: the stream that would answer it is gone."""
        for future, _ in list(self.pending.values()):
            if not future.done():
                future.set_exception(error)
        self.pending.clear()


class _PendingReplies:
    """Matches iq results and errors whose id a waiter is waiting for (a dict look-up)."""

    def __init__(self, pending: dict[str, Any]) -> None:
        self.pending = pending

    def match(self, stanza: Any) -> bool:
        element = stanza.xml
        return (element.tag == _IQ_TAG and element.get("id") in self.pending
                and element.get("type") in ("result", "error"))
