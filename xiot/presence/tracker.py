"""The presence of every contact on one connection, kept by the Session.

``session.state(PresenceTracker)`` is created once per stream.  It reads the roster (with
XEP-0237 versioning), sends our initial presence once, and from then on keeps each contact's
resources current from the presence stanzas the server pushes.  Snapshots, watches, and the
readout's JID resolution all read the same tracker, so a shell session announces itself once.

Settling (see ``wait_settled``): on our initial presence the server probes every contact we
are subscribed to and answers for each at least once, available resources or a bare
``unavailable``.  So the view is settled when every such roster contact has answered.  A quiet
period (no presence for a while) is only a fallback for contacts the server never answers for
(a remote domain that is down), and the caller's timeout bounds the whole wait.
"""

from __future__ import annotations

import asyncio
import collections
import datetime as dt
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any

from xiot.errors import XiotError
from xiot.presence.model import ContactState, PresenceChange, Resource, best_resource, state_of
from xiot.presence.roster import Roster, RosterItem, fetch_roster, save_cache

if TYPE_CHECKING:
    from xiot.xmpp.session import Session

_NS = "{jabber:client}"
_DELAY = "{urn:xmpp:delay}delay"
#: A contact that changed state this many times within FLAP_WINDOW seconds is flapping.
FLAP_CHANGES = 4
FLAP_WINDOW = 60.0


@dataclass(frozen=True)
class Settle:
    """How a wait for a settled view ended."""

    reason: str  # all-answered | quiet | timeout
    expected: int
    answered: int
    seconds: float

    @property
    def settled(self) -> bool:
        return self.reason != "timeout"


class PresenceTracker:
    """Resources per bare JID, the roster, and who has answered since our initial presence."""

    def __init__(self, session: Session) -> None:
        xmpp = session.client
        self.session = session
        self.xmpp = xmpp
        self.own = str(xmpp.boundjid)
        self.roster: Roster | None = None
        self.started: float | None = None
        self.contacts: dict[str, dict[str, Resource]] = {}
        self.answered: set[str] = set()
        #: When a contact was seen losing its last resource during this connection.
        self.gone: dict[str, dt.datetime] = {}
        self.last_change = time.monotonic()
        self.changed = asyncio.Event()
        self.presences = 0
        self.seq = 0
        self._announced: asyncio.Future[None] | None = None
        self._pending: set[str] | None = None
        self._all_answered = asyncio.Event()
        self._listeners: list[Callable[[PresenceChange], None]] = []
        self._flaps: dict[str, collections.deque[float]] = {}
        self._cache_key: str | None = None
        #: Why the roster could not be read (the view then holds no contacts).
        self.roster_error: XiotError | None = None
        xmpp.add_event_handler("presence", self._on_presence)
        xmpp.add_event_handler("roster_update", self._on_roster_push)

    def close(self) -> None:
        self.xmpp.del_event_handler("presence", self._on_presence)
        self.xmpp.del_event_handler("roster_update", self._on_roster_push)

    # ------------------------------------------------------------------ what the server says

    def _on_presence(self, presence: Any) -> None:
        xml = presence.xml
        ptype = xml.get("type")
        if ptype not in (None, "unavailable", "error"):
            return  # subscription requests and probes are not presence information
        sender = xml.get("from") or ""
        if sender == self.own:
            return
        bare, _, resource = sender.partition("/")
        self.presences += 1
        before = self._best(bare)
        resources = self.contacts.setdefault(bare, {})
        if ptype is None:
            resources[resource] = _resource(xml, resource)
        elif resource:
            resources.pop(resource, None)
        else:  # a bare unavailable (or an error) says nothing of this contact is online
            resources.clear()
        if before is not None and not resources:
            self.gone[bare] = dt.datetime.now(dt.UTC)
        self._answer(bare)
        self.last_change = time.monotonic()
        self.changed.set()
        if self._listeners:
            self._notify(bare, resource, before, xml)

    def _answer(self, bare: str) -> None:
        if bare in self.answered:
            return
        self.answered.add(bare)
        if self._pending is not None:
            self._pending.discard(bare)
            if not self._pending:
                self._all_answered.set()

    def _best(self, bare: str) -> Resource | None:
        found = self.contacts.get(bare)
        return best_resource(tuple(found.values())) if found else None

    def _notify(self, bare: str, resource: str, before: Resource | None, xml: Any) -> None:
        after = self._best(bare)
        old = before.state if before else "unavailable"
        new = after.state if after else "unavailable"
        if (old, before and before.status, before and before.priority) == \
                (new, after and after.status, after and after.priority):
            return
        flapping = self._flapping(bare, old != new)
        shown = after or Resource(resource, "unavailable",
                                  xml.findtext(f"{_NS}status") or None)
        self.emit("change", bare, resource, new, old, shown.status,
                  after.priority if after else None, flapping)

    def _flapping(self, bare: str, state_changed: bool) -> bool:
        now = time.monotonic()
        times = self._flaps.setdefault(bare, collections.deque(maxlen=FLAP_CHANGES))
        if state_changed:
            times.append(now)
        return len(times) == FLAP_CHANGES and now - times[0] <= FLAP_WINDOW

    def is_flapping(self, bare: str) -> bool:
        times = self._flaps.get(bare)
        return bool(times) and len(times) == FLAP_CHANGES and \
            time.monotonic() - times[0] <= FLAP_WINDOW  # type: ignore[index]

    def emit(self, event: str, jid: str | None = None, resource: str | None = None,
             state: str | None = None, previous: str | None = None, status: str | None = None,
             priority: int | None = None, flapping: bool = False) -> PresenceChange:
        """Number an event and hand it to every listener (also used for synthetic events)."""
        self.seq += 1
        change = PresenceChange(self.seq, time.monotonic(), dt.datetime.now(dt.UTC), event,
                                jid, resource or None, state, previous, status, priority,
                                flapping=flapping)
        for listener in list(self._listeners):
            listener(change)
        return change

    def listen(self, listener: Callable[[PresenceChange], None]) -> Callable[[], None]:
        """Call ``listener`` for every change from now on; returns the function to stop."""
        self._listeners.append(listener)
        return lambda: self._listeners.remove(listener) if listener in self._listeners else None

    def _on_roster_push(self, iq: Any) -> None:
        """Keep the roster (and its cache) current when the server pushes a change."""
        from xiot.presence.roster import parse_items

        if self.roster is None or iq["type"] != "set":
            return
        query = iq.xml.find("{jabber:iq:roster}query")
        if query is None:
            return
        roster = self.roster
        for jid, item in parse_items(query).items():
            removed = item.subscription == "remove"
            roster = roster.with_push(None if removed else item, jid, query.get("ver"))
        self.roster = roster
        if self._cache_key and roster.version:
            save_cache(self._cache_key, roster)

    # ------------------------------------------------------------------ announcing ourselves

    async def announce(self, timeout: float) -> None:
        """Read the roster and send our initial presence, once per connection."""
        if self._announced is None:
            self._announced = asyncio.ensure_future(self._announce(timeout))
        await asyncio.shield(self._announced)

    async def _announce(self, timeout: float) -> None:
        from xiot.presence.roster import cache_key

        roster_task = asyncio.ensure_future(fetch_roster(self.session, timeout))
        # Let the roster request go out first: the server answers stanzas in order, and our
        # initial presence makes it probe every contact, so a roster asked for after it
        # arrives only after the whole presence burst (~0.4 s for 1,000 devices).
        await asyncio.sleep(0)
        # Negative priority: messages to our bare JID should never land in this session.
        self.xmpp.send_presence(ppriority=-1)
        self.started = time.monotonic()
        try:
            self.roster = await roster_task
        except XiotError as exc:  # resolving devices can do without; a snapshot cannot
            self.roster_error = exc
            self.roster = Roster({})
        if self.roster.versioned:
            self._cache_key = cache_key(self.session)
        pending = {jid for jid, item in self.roster.items.items() if item.sees_presence}
        self._pending = pending - self.answered
        if not self._pending:
            self._all_answered.set()

    @property
    def subscribed(self) -> set[str]:
        """Bare JIDs whose presence we are subscribed to (roster ``to`` or ``both``)."""
        items = self.roster.items if self.roster else {}
        return {jid for jid, item in items.items() if item.sees_presence}

    @property
    def resources(self) -> dict[str, dict[str, int]]:
        """{bare: {resource: priority}} of every available resource."""
        return {bare: {r.name: r.priority for r in found.values()}
                for bare, found in self.contacts.items() if found}

    async def wait_settled(self, deadline: float, quiet: float) -> Settle:
        """Wait until every subscribed contact has answered, or ``quiet`` seconds pass without
        any presence, or ``deadline`` (monotonic) passes; say which."""
        started = self.started or time.monotonic()
        while True:
            now = time.monotonic()
            if self._all_answered.is_set():
                return self._settle("all-answered", started)
            quiet_since = max(self.last_change, started)
            if now - quiet_since >= quiet:
                return self._settle("quiet", started)
            if now >= deadline:
                return self._settle("timeout", started)
            self.changed.clear()
            wait = max(0.01, min(deadline, quiet_since + quiet) - now)
            waiters = [asyncio.ensure_future(self._all_answered.wait()),
                       asyncio.ensure_future(self.changed.wait())]
            _, pending = await asyncio.wait(waiters, timeout=wait,
                                            return_when=asyncio.FIRST_COMPLETED)
            for task in pending:
                task.cancel()

    def _settle(self, reason: str, started: float) -> Settle:
        expected = len(self.subscribed)
        answered = expected - len(self._pending or ())
        return Settle(reason, expected, answered, time.monotonic() - started)

    # ------------------------------------------------------------------ reading the view

    def best(self, bare: str) -> str | None:
        """The full JID of ``bare``'s best available resource, never our own session."""
        found = [r for r in self.contacts.get(bare, {}).values() if f"{bare}/{r.name}" != self.own]
        chosen = best_resource(tuple(found))
        if chosen is None:
            return None
        return f"{bare}/{chosen.name}" if chosen.name else bare

    def contact(self, bare: str) -> ContactState:
        item = self.roster.items.get(bare) if self.roster else None
        found = self.contacts.get(bare, {})
        state = ContactState.of(bare, tuple(found.values()), bare in self.answered,
                                **_roster_fields(item))
        if not found and bare in self.gone:
            state = replace(state, since=self.gone[bare])
        return state

    def snapshot(self, jids: Iterable[str] | None = None) -> list[ContactState]:
        """Every roster contact (or ``jids``), sorted by JID."""
        if jids is None:
            jids = self.roster.items if self.roster else self.contacts
        return [self.contact(jid) for jid in sorted(jids)]


def _roster_fields(item: RosterItem | None) -> dict[str, Any]:
    if item is None:
        return {}
    return {"name": item.name, "groups": item.groups, "subscription": item.subscription}


def _resource(xml: Any, name: str) -> Resource:
    show = xml.findtext(f"{_NS}show")
    try:
        priority = max(-128, min(127, int(xml.findtext(f"{_NS}priority") or 0)))
    except ValueError:
        priority = 0
    delay = xml.find(_DELAY)
    since = _stamp(delay.get("stamp")) if delay is not None else None
    return Resource(name, state_of(None, show), xml.findtext(f"{_NS}status") or None,
                    priority, since or dt.datetime.now(dt.UTC))


def _stamp(text: str | None) -> dt.datetime | None:
    """An XEP-0082 timestamp; None when it cannot be read."""
    if not text:
        return None
    try:
        return dt.datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return None
