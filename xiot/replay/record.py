"""Recording: every stanza the actors of a recording send and receive, in one global order.

``xiot replay record`` drives real Sessions (raw stanzas and xiot commands, typed or
scripted) and needs the exchange afterwards as a scenario.  A ``Journal`` is attached to each
actor's Session: it sees what the actor receives through a stream handler and what it sends
by wrapping the stream's one way out (``send_raw``: every stanza slixmpp or a command sends
passes there, raw text included), so nothing a command does on the wire escapes it.  Only
stanzas (``message``, ``presence``, ``iq`` of ``jabber:client``) are kept; the stream
negotiation and SASL never are, so no credential of the login reaches a recording.

``xiot.replay.generalise`` turns the entries into scenario text.
"""

from __future__ import annotations

import copy
import threading
import time
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

from xiot.replay.model import parse_stanzas
from xiot.replay.runner import STANZA_TAGS, on_stanzas
from xiot.xmlsafe import XmlError

if TYPE_CHECKING:
    from collections.abc import Callable

    from xiot.xmpp.session import Session

__all__ = ["Entry", "Journal"]

Direction = Literal["connect", "send", "recv", "disconnect"]


@dataclass(frozen=True)
class Entry:
    """One thing that happened to one actor; ``element`` for ``send`` and ``recv``."""

    actor: str
    direction: Direction
    at: float
    element: ET.Element | None = None


class Journal:
    """What the actors did, oldest first, up to ``limit`` stanzas (then ``full`` is set).

    Appends come from the event loop's thread, reads from whichever thread writes the file,
    so a lock guards the list; ``version`` lets a writer skip a flush when nothing changed.
    """

    def __init__(self, limit: int = 50_000) -> None:
        self.limit = limit
        self.full = False
        self.version = 0
        self._entries: list[Entry] = []
        self._lock = threading.Lock()
        #: Called with each new entry (on the loop's thread), e.g. to echo it to a person.
        self.listener: Callable[[Entry], None] | None = None

    def entries(self) -> list[Entry]:
        with self._lock:
            return list(self._entries)

    def stanzas(self) -> int:
        with self._lock:
            return sum(1 for e in self._entries if e.element is not None)

    def add(self, actor: str, direction: Direction, element: ET.Element | None = None) -> None:
        with self._lock:
            if element is not None and len(self._entries) >= self.limit:
                self.full = True
                return
            entry = Entry(actor, direction, time.monotonic(), element)
            self._entries.append(entry)
            self.version += 1
        if self.listener is not None:
            self.listener(entry)

    def attach(self, session: Session, actor: str) -> None:
        """Log ``session``'s stanzas as ``actor``'s, from now on (call after it opened)."""
        client = session.client
        journal = self

        def received(stanza: Any) -> None:
            # a detached copy: slixmpp may reuse or change the tree after its handlers ran
            journal.add(actor, "recv", copy.deepcopy(stanza.xml))

        on_stanzas(session, f"xiot-record-{actor}", received)
        send_raw = client.send_raw

        def sending(data: str | bytes) -> None:
            send_raw(data)
            for element in _stanzas_in(data):
                journal.add(actor, "send", element)

        client.send_raw = sending
        self.add(actor, "connect")


def _stanzas_in(data: str | bytes) -> list[ET.Element]:
    """The stanzas in one write to the stream (whitespace pings, stream headers: none)."""
    text = data.decode("utf-8", "replace") if isinstance(data, bytes) else data
    text = text.strip()
    if not text.startswith("<") or text.startswith(("<?", "<stream:", "</stream")):
        return []
    try:
        found = parse_stanzas(text)
    except XmlError:
        return []
    return [element for element in found if element.tag in STANZA_TAGS]

