"""The fleet's presence as data: one ``ContactState`` per bare JID, one ``PresenceChange`` per
event, and the ``Shard`` a watcher or a provisioning run is responsible for.

Pure values with no XMPP in them, so renderers, the live view and tests use them without a
server.  A contact's state is that of its best resource (highest priority, then the most
available show), as RFC 6121 routes messages; a negative priority is still available.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from dataclasses import dataclass
from typing import Any, Literal

from xiot.errors import UsageError

#: Presence states, most available first.  ``unknown``: no answer yet (not subscribed, or the
#: view has not settled); ``unavailable``: the server said nothing is online.
STATES: tuple[str, ...] = ("chat", "available", "away", "xa", "dnd", "unavailable", "unknown")
ONLINE_STATES = frozenset(("chat", "available", "away", "xa", "dnd"))
_RANK = {name: rank for rank, name in enumerate(STATES)}

#: Where a row's information came from: presence stanzas to us, the server's own list of
#: sessions (XEP-0133), or only the roster (no presence seen).
Source = Literal["presence", "server", "roster"]

SNAPSHOT_COLUMNS = ("jid", "state", "status", "priority", "resources", "since", "last_seen",
                    "name", "groups", "subscription", "source")
CHANGE_COLUMNS = ("seq", "shard", "mono", "time", "event", "jid", "resource", "state",
                  "previous", "status", "priority", "flapping")


def state_of(ptype: str | None, show: str | None) -> str:
    """The state name of one presence stanza (``type`` and ``show`` as received)."""
    if ptype == "unavailable" or ptype == "error":
        return "unavailable"
    if show in ("chat", "away", "xa", "dnd"):
        return show
    return "available"


@dataclass(frozen=True, slots=True)
class Resource:
    """One connected resource of a contact, as its last presence described it."""

    name: str
    state: str
    status: str | None = None
    priority: int = 0
    since: dt.datetime | None = None


def best_resource(resources: tuple[Resource, ...]) -> Resource | None:
    """The resource that speaks for the contact: highest priority, then most available."""
    if not resources:
        return None
    return min(resources, key=lambda r: (-r.priority, _RANK.get(r.state, 99), r.name))


@dataclass(frozen=True, slots=True)
class ContactState:
    """One contact at one moment: what a snapshot row shows."""

    jid: str
    state: str
    status: str | None = None
    priority: int | None = None
    resources: tuple[Resource, ...] = ()
    since: dt.datetime | None = None
    source: Source = "presence"
    name: str | None = None
    groups: tuple[str, ...] = ()
    subscription: str | None = None
    #: From XEP-0012 for an offline contact: when its last session ended.
    last_seen: dt.datetime | None = None
    last_status: str | None = None

    @property
    def online(self) -> bool:
        return self.state in ONLINE_STATES

    @classmethod
    def of(cls, jid: str, resources: tuple[Resource, ...], answered: bool,
           **extra: Any) -> ContactState:
        """The state of ``jid`` from its resources; ``answered`` tells offline from unknown."""
        best = best_resource(resources)
        if best is None:
            return cls(jid, "unavailable" if answered else "unknown",
                       source="presence" if answered else "roster", **extra)
        return cls(jid, best.state, best.status, best.priority,
                   tuple(sorted(resources, key=lambda r: r.name)), best.since, **extra)

    def to_record(self) -> dict[str, Any]:
        return {
            "jid": self.jid, "state": self.state, "status": self.status or self.last_status,
            "priority": self.priority,
            "resources": [r.name for r in self.resources],
            "since": self.since, "last_seen": self.last_seen, "name": self.name,
            "groups": list(self.groups), "subscription": self.subscription,
            "source": self.source,
        }


@dataclass(frozen=True, slots=True)
class PresenceChange:
    """One event of a watch, in the order the watcher saw it.

    ``seq`` counts per watcher process; ``mono`` is the system-wide monotonic clock (the same
    clock for every process on one machine, so streams of several watchers merge by it);
    ``time`` is the wall clock, for streams from several machines.  ``event`` is ``initial``
    (state once the view settled), ``change``, ``while-away`` (a difference found after a
    reconnect), ``lost`` or ``resynced`` (the watcher's own connection; no ``jid``).
    """

    seq: int
    mono: float
    time: dt.datetime
    event: str
    jid: str | None = None
    resource: str | None = None
    state: str | None = None
    previous: str | None = None
    status: str | None = None
    priority: int | None = None
    shard: str | None = None
    flapping: bool = False

    def to_record(self) -> dict[str, Any]:
        return {
            "seq": self.seq, "shard": self.shard, "mono": round(self.mono, 6),
            "time": self.time, "event": self.event, "jid": self.jid,
            "resource": self.resource, "state": self.state, "previous": self.previous,
            "status": self.status, "priority": self.priority, "flapping": self.flapping,
        }


@dataclass(frozen=True, slots=True)
class Shard:
    """Share ``index`` of ``count`` (1-based, as typed: ``--shard 2/4``).

    A bare JID belongs to exactly one share, decided by a hash of the JID alone, so every
    process anywhere that is given the same ``count`` agrees without talking to the others.
    """

    index: int
    count: int

    @classmethod
    def parse(cls, text: str) -> Shard:
        try:
            index, count = (int(part) for part in text.split("/"))
        except ValueError:
            raise UsageError(f"--shard {text!r} is not K/N",
                             "For example --shard 1/4: the first of four shares") from None
        if count < 1 or not 1 <= index <= count:
            raise UsageError(f"--shard {text}: K must be between 1 and N",
                             "For example --shard 1/4 ... --shard 4/4")
        return cls(index, count)

    def __str__(self) -> str:
        return f"{self.index}/{self.count}"

    def holds(self, bare: str) -> bool:
        return shard_index(bare, self.count) == self.index


def shard_index(bare: str, count: int) -> int:
    """The 1-based share of ``bare`` among ``count``: SHA-256 of the lower-cased bare JID.

    A cryptographic hash is overkill for spreading, but it is the same in every language an
    operator might rewrite a dashboard in, unlike Python's salted ``hash()``.
    """
    digest = hashlib.sha256(bare.lower().encode("utf-8")).digest()
    return int.from_bytes(digest[:8], "big") % count + 1
