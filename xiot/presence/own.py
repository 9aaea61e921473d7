"""Our own presence: ``xiot presence set away --status maintenance``.

Presence belongs to a connection: the server broadcasts it to our subscribers while this
session lives and sends ``unavailable`` for it when the session ends.  So setting it is one
stanza, and how long it lasts is the caller's decision (the command holds the connection; the
shell keeps it for its own session).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from xiot.errors import UsageError

if TYPE_CHECKING:
    from xiot.xmpp.session import Session

SETTABLE = ("available", "chat", "away", "xa", "dnd")


@dataclass(frozen=True)
class OwnPresence:
    jid: str
    state: str
    status: str | None
    priority: int
    at: dt.datetime

    def to_record(self) -> dict[str, Any]:
        return {"jid": self.jid, "state": self.state, "status": self.status,
                "priority": self.priority, "time": self.at}


def check(state: str, priority: int) -> None:
    if state not in SETTABLE:
        raise UsageError(f"cannot set presence '{state}'", f"Use one of {', '.join(SETTABLE)}")
    if not -128 <= priority <= 127:
        raise UsageError(f"--priority {priority} is out of range", "Use -128..127")


def set_presence(session: Session, state: str, status: str | None = None, priority: int = 0
                 ) -> OwnPresence:
    """Broadcast our presence to every subscriber, now; it lasts while the session does."""
    check(state, priority)
    show = None if state == "available" else state
    session.check_alive()
    session.client.send_presence(pshow=show, pstatus=status, ppriority=priority)
    return OwnPresence(str(session.client.boundjid), state, status, priority,
                       dt.datetime.now(dt.UTC))
