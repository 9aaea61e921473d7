"""Event notifications: parse them, and ``Watch`` the nodes one asks for.

``EventStream`` is a Session state: it registers one handler for ``pubsub#event`` messages
and queues parsed ``Event``s; a lost connection is queued too, so whoever reads the stream
hears about it at once.  ``Watch`` subscribes this session's full JID to the nodes for as
long as it runs, and takes those subscriptions back when it ends.  A full-JID subscription
reaches this session even at a negative presence priority (events to a bare JID only reach
resources with a priority of zero or more, which a short operator session does not set), adds
no events to the account's other sessions, and cannot duplicate an existing bare-JID
subscription (ejabberd would deliver every event twice to a second subscription of the same
JID).
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import xml.etree.ElementTree as ET
from collections.abc import AsyncIterator, Sequence
from typing import TYPE_CHECKING, Any

from xiot.pubsub.core import NS_DATA, NS_EVENT, Target, q
from xiot.pubsub.model import Event

if TYPE_CHECKING:
    from xiot.xmpp.session import Session

EVENT_TAG = q(NS_EVENT, "event")
MESSAGE_TAG = "{jabber:client}message"
DELAY_TAG = "{urn:xmpp:delay}delay"


def parse_events(message: ET.Element, when: dt.datetime | None = None) -> list[Event]:
    """Every event a ``pubsub#event`` message carries (a message may hold several items)."""
    event = message.find(EVENT_TAG)
    if event is None:
        return []
    when = when or dt.datetime.now(dt.UTC)
    service = message.get("from") or ""
    delay = message.find(DELAY_TAG)
    stamp = delay.get("stamp") if delay is not None else None
    found: list[Event] = []
    for element in event:
        node = element.get("node") or ""
        tag = element.tag
        if tag == q(NS_EVENT, "items"):
            for entry in element:
                kind = "retract" if entry.tag == q(NS_EVENT, "retract") else "item"
                found.append(Event(when, service, node, kind, entry.get("id"),
                                   entry.get("publisher"), next(iter(entry), None),
                                   delay=stamp))
        elif tag == q(NS_EVENT, "purge"):
            found.append(Event(when, service, node, "purge", delay=stamp))
        elif tag == q(NS_EVENT, "delete"):
            redirect = element.find(q(NS_EVENT, "redirect"))
            found.append(Event(when, service, node, "delete", delay=stamp,
                               redirect=redirect.get("uri") if redirect is not None else None))
        elif tag == q(NS_EVENT, "configuration"):
            found.append(Event(when, service, node, "config", delay=stamp,
                               detail=_form_values(element)))
        elif tag == q(NS_EVENT, "subscription"):
            found.append(Event(when, service, node, "subscription", delay=stamp,
                               detail={"jid": element.get("jid"),
                                       "subscription": element.get("subscription")}))
    return found


def _form_values(element: ET.Element) -> dict[str, Any]:
    values: dict[str, Any] = {}
    for field in element.iter(q(NS_DATA, "field")):
        var = field.get("var")
        if var and var != "FORM_TYPE":
            texts = [v.text or "" for v in field.findall(q(NS_DATA, "value"))]
            values[var.removeprefix("pubsub#")] = texts[0] if len(texts) == 1 else texts
    return values


class EventStream:
    """Per-connection queue of PubSub events (see the module docstring)."""

    def __init__(self, session: Session) -> None:
        from slixmpp.xmlstream.handler import Callback
        from slixmpp.xmlstream.matcher.base import MatcherBase

        class _IsEvent(MatcherBase):
            def match(self, stanza: Any) -> bool:
                xml = stanza.xml
                return xml.tag == MESSAGE_TAG and xml.find(EVENT_TAG) is not None

        self.session = session
        self.queue: asyncio.Queue[Event | BaseException] = asyncio.Queue()
        self.name = f"xiot pubsub events {id(self)}"
        session.client.register_handler(Callback(self.name, _IsEvent(None), self._on_message))

    def _on_message(self, message: Any) -> None:
        for event in parse_events(message.xml):
            self.queue.put_nowait(event)

    def connection_lost(self, error: BaseException) -> None:
        self.queue.put_nowait(error)

    def close(self) -> None:
        with contextlib.suppress(RuntimeError):  # the session is already closed
            self.session.client.remove_handler(self.name)


class Watch:
    """``async with Watch(session, target, nodes) as w: async for event in w.events():``"""

    def __init__(self, session: Session, where: Target, nodes: Sequence[str],
                 subscribe: bool = True, keep: bool = False) -> None:
        self.session = session
        self.where = where
        self.nodes = tuple(nodes)
        self.subscribe = subscribe
        self.keep = keep
        #: Nodes this watch subscribed to (and unsubscribes from on leaving unless ``keep``).
        self.made: list[str] = []
        self.jid = str(session.client.boundjid)
        self.stream = session.state(EventStream)

    async def __aenter__(self) -> Watch:
        from xiot.pubsub.subscriptions import subscribe

        if self.subscribe:
            # Some services deliver only to subscribers that are available (ejabberd's PEP:
            # presence-based delivery).  A negative priority keeps messages to the bare JID
            # away from this short session.
            self.session.client.send_presence(ppriority=-1)
            try:
                for node in self.nodes:
                    await subscribe(self.session, self.where, node, self.jid)
                    self.made.append(node)
            except BaseException:
                await self.__aexit__()
                raise
        return self

    async def __aexit__(self, *exc: object) -> None:
        from xiot.errors import XiotError
        from xiot.pubsub.subscriptions import unsubscribe

        if self.keep or self.session.lost is not None:
            return
        for node in self.made:
            with contextlib.suppress(XiotError):  # the node may be gone (deleted while watched)
                await unsubscribe(self.session, self.where, node, self.jid)
        self.made = []

    async def events(self) -> AsyncIterator[Event]:
        """Events of the watched nodes on the watched service, as they arrive."""
        wanted = set(self.nodes)
        service = self.where.service
        while True:
            item = await self.stream.queue.get()
            if isinstance(item, BaseException):
                raise item
            if item.service.split("/")[0] == service and (not wanted or item.node in wanted):
                yield item
