"""``watch``: follow the fleet's presence as it changes, across lost connections.

A ``Watcher`` outlives the connections it watches through.  ``run(session, number)`` is one
connection's worth (the shape ``Runtime.watch`` reconnects around): announce, wait for the
settled view, then report changes until ``--count`` or ``--until-idle`` is reached.  The
state of every watched contact is kept between connections, so after a reconnect the watcher
re-syncs (a server restart keeps no presence: we log in again and send initial presence) and
reports each contact that changed while it was away as a ``while-away`` event.

Events are numbered by the watcher (``seq`` never restarts), carry the shard, the system-wide
monotonic clock and the wall clock, so the streams of several shard watchers merge cleanly.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import datetime as dt
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from xiot.presence.model import ContactState, PresenceChange
from xiot.presence.snapshot import QUIET_SECONDS, Selection
from xiot.presence.tracker import PresenceTracker, Settle

if TYPE_CHECKING:
    from xiot.xmpp.session import Session

COUNTED = frozenset(("change", "while-away"))


@dataclass(frozen=True)
class WatchOptions:
    selection: Selection = dataclasses.field(default_factory=Selection)
    #: Stop after this many changes (``change`` and ``while-away`` events).
    count: int | None = None
    #: Stop once no change has been seen for this many seconds.
    until_idle: float | None = None
    #: Report every watched contact's state once the first view has settled.
    initial: bool = True
    quiet: float = QUIET_SECONDS


class Watcher:
    """The watch's memory across connections; ``on_event`` gets every numbered event."""

    def __init__(self, options: WatchOptions, on_event: Callable[[PresenceChange], None],
                 on_sync: Callable[[dict[str, ContactState]], None] | None = None) -> None:
        self.options = options
        self.on_event = on_event
        #: Told the whole watched view after each settle (the live view's counts).
        self.on_sync = on_sync
        self.shard = str(options.selection.shard) if options.selection.shard else None
        self.known: dict[str, ContactState] = {}
        self.seq = 0
        self.changes = 0
        self.connections = 0
        self.settles: list[Settle] = []
        self.done = asyncio.Event()
        self._last_activity = time.monotonic()
        self._tracker: PresenceTracker | None = None

    # ---------------------------------------------------------------------------- events

    def _emit(self, change: PresenceChange) -> None:
        self.seq += 1
        change = dataclasses.replace(change, seq=self.seq, shard=self.shard)
        if change.event in COUNTED:
            self.changes += 1
            self._last_activity = time.monotonic()
        self.on_event(change)
        if self.options.count is not None and self.changes >= self.options.count:
            self.done.set()

    def _synthetic(self, event: str, contact: ContactState | None = None,
                   previous: str | None = None) -> None:
        now = time.monotonic()
        stamp = dt.datetime.now(dt.UTC)
        if contact is None:
            self._emit(PresenceChange(0, now, stamp, event))
            return
        best = contact.resources[0].name if len(contact.resources) == 1 else None
        self._emit(PresenceChange(0, now, stamp, event, contact.jid, best, contact.state,
                                  previous, contact.status, contact.priority))

    def _wanted(self, tracker: PresenceTracker, jid: str | None) -> bool:
        if jid is None:
            return True
        selection = self.options.selection
        if not selection.holds_jid(jid):
            return False
        roster = tracker.roster.items if tracker.roster else {}
        if jid not in roster:
            return False  # our own other resources, strangers: not part of the fleet
        return selection.group is None or selection.group in roster[jid].groups

    def _on_change(self, change: PresenceChange) -> None:
        tracker = self._tracker
        if tracker is None or not self._wanted(tracker, change.jid):
            return
        if change.jid is not None:
            self.known[change.jid] = tracker.contact(change.jid)
        self._emit(change)

    # ---------------------------------------------------------------------------- one connection

    async def run(self, session: Session, number: int, timeout: float) -> bool:
        """Watch over ``session`` until done; a lost connection raises ``ConnectionLost``."""
        from xiot.xmpp.session import ConnectionLost

        self.connections += 1
        tracker = session.state(PresenceTracker)
        self._tracker = tracker
        stop_listening: Callable[[], None] | None = None
        try:
            await session.guard(tracker.announce(timeout))
            if tracker.roster_error is not None:
                raise tracker.roster_error
            settle = await session.guard(
                tracker.wait_settled(time.monotonic() + timeout, self.options.quiet))
            self.settles.append(settle)
            # Listening starts only now: the burst before it is the settled view itself, not
            # ten thousand changes (and nothing can arrive between these two lines).
            self._sync(tracker, first=number == 1 and not self.known)
            stop_listening = tracker.listen(self._on_change)
            await session.guard(self._until_done())
        except ConnectionLost:
            self._synthetic("lost")
            raise
        finally:
            if stop_listening is not None:
                stop_listening()
            self._tracker = None
        return False

    def _sync(self, tracker: PresenceTracker, first: bool) -> None:
        """Report the settled view: all of it the first time, what differs after a reconnect."""
        current = {c.jid: c for c in tracker.snapshot() if self._wanted(tracker, c.jid)
                   and self.options.selection.holds(c)}
        if first:
            self.known = dict(current)
            if self.options.initial:
                for contact in current.values():
                    self._synthetic("initial", contact)
            self._last_activity = time.monotonic()
            if self.on_sync is not None:
                self.on_sync(dict(self.known))
            return
        for jid in sorted(current.keys() | self.known.keys()):
            now = current.get(jid)
            before = self.known.get(jid)
            if now is None or (before is not None and (before.state, before.status)
                               == (now.state, now.status)):
                continue
            self._synthetic("while-away", now, before.state if before else None)
        self.known.update(current)
        if self.on_sync is not None:
            self.on_sync(dict(self.known))
        self._synthetic("resynced")

    async def _until_done(self) -> None:
        idle = self.options.until_idle
        while not self.done.is_set():
            if idle is None:
                await self.done.wait()
                return
            left = self._last_activity + idle - time.monotonic()
            if left <= 0:
                self.done.set()
                return
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.done.wait(), left)
