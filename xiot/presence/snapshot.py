"""``snapshot``: every contact's presence once the view has settled.

The operation behind ``xiot presence snapshot``: announce (roster + initial presence), wait
for the settle signal (``PresenceTracker.wait_settled``), add XEP-0012 last activity for
offline contacts, and, with an admin account, the server's own list of online sessions.
"""

from __future__ import annotations

import dataclasses
import fnmatch
import time
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from xiot.errors import UsageError
from xiot.presence.model import STATES, ContactState, Shard
from xiot.presence.tracker import PresenceTracker, Settle

if TYPE_CHECKING:
    from xiot.xmpp.session import Session

SOURCES = ("roster", "server", "both")
#: Seconds without any presence after which an incomplete burst is taken as over.
QUIET_SECONDS = 3.0


@dataclass(frozen=True)
class Selection:
    """Which contacts a snapshot or a watch is about."""

    group: str | None = None
    match: str | None = None
    shard: Shard | None = None

    def holds(self, contact: ContactState) -> bool:
        return self.holds_jid(contact.jid) and (
            self.group is None or self.group in contact.groups)

    def holds_jid(self, jid: str) -> bool:
        if self.match is not None and not fnmatch.fnmatchcase(jid.lower(), self.match.lower()):
            return False
        return self.shard is None or self.shard.holds(jid)


@dataclass(frozen=True)
class SnapshotOptions:
    selection: Selection = Selection()
    source: str = "roster"
    last_activity: bool = True
    quiet: float = QUIET_SECONDS

    def __post_init__(self) -> None:
        if self.source not in SOURCES:
            raise UsageError(f"--source {self.source}: use one of {', '.join(SOURCES)}")
        if self.source == "server" and self.selection.group is not None:
            raise UsageError("--group needs the roster: the server's list of sessions has no "
                             "groups", "Use --source roster or both, or --match")


@dataclass(frozen=True)
class Snapshot:
    contacts: tuple[ContactState, ...]
    settle: Settle | None
    roster_version: str | None = None
    roster_from_cache: bool = False
    #: Why last activity is missing (None when it was asked, or not wanted).
    last_activity_note: str | None = None
    source: str = "roster"

    def counts(self) -> dict[str, int]:
        found = Counter(c.state for c in self.contacts)
        return {state: found[state] for state in STATES if found[state]}

    def summary(self) -> str:
        """One line for a person: totals per state and how the view settled."""
        counts = ", ".join(f"{n} {state}" for state, n in self.counts().items()) or "no contacts"
        parts = [f"{len(self.contacts)} contacts: {counts}"]
        if self.settle is not None:
            how = {"all-answered": "every contact answered", "quiet": "quiet period",
                   "timeout": "NOT settled (timeout)"}[self.settle.reason]
            parts.append(f"settled in {self.settle.seconds:.2f}s ({how}, "
                         f"{self.settle.answered}/{self.settle.expected} answered)")
        if self.roster_version is not None:
            origin = "cache" if self.roster_from_cache else "server"
            parts.append(f"roster version {self.roster_version} from {origin}")
        if self.last_activity_note:
            parts.append(self.last_activity_note)
        return "; ".join(parts)


async def take_snapshot(session: Session, options: SnapshotOptions, timeout: float
                        ) -> Snapshot:
    """A settled view of the contacts ``options`` selects, within ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    rows: list[ContactState] = []
    settle = None
    tracker = None
    note = None
    if options.source in ("roster", "both"):
        tracker = session.state(PresenceTracker)
        await session.guard(tracker.announce(timeout))
        if tracker.roster_error is not None:
            raise tracker.roster_error
        settle = await session.guard(tracker.wait_settled(deadline, options.quiet))
        rows = [c for c in tracker.snapshot() if options.selection.holds(c)]
        if options.last_activity:
            rows, note = await _with_last_activity(session, rows, deadline)
    if options.source in ("server", "both"):
        from xiot.presence.online import online_users

        known = {c.jid for c in rows}
        own = session.jid.bare
        remaining = max(1.0, deadline - time.monotonic())
        rows += [c for c in await online_users(session, remaining)
                 if c.jid not in known and c.jid != own and options.selection.holds(c)]
        rows.sort(key=lambda c: c.jid)
    roster = tracker.roster if tracker is not None else None
    return Snapshot(tuple(rows), settle, roster.version if roster else None,
                    bool(roster and roster.from_cache), note, options.source)


async def _with_last_activity(session: Session, rows: list[ContactState], deadline: float
                              ) -> tuple[list[ContactState], str | None]:
    from xiot.presence.last import last_activity, server_answers_last

    offline = [c.jid for c in rows if c.state == "unavailable"]
    if not offline:
        return rows, None
    remaining = max(1.0, deadline - time.monotonic())
    if not await server_answers_last(session, min(remaining, 5.0)):
        return rows, "last activity: the server offers no XEP-0012"
    found = await last_activity(session, offline, min(remaining, 5.0))
    return [_merge_last(c, found.get(c.jid)) for c in rows], None


def _merge_last(contact: ContactState, last: object) -> ContactState:
    if last is None:
        return contact
    seen = getattr(last, "seen", None)
    return dataclasses.replace(contact, last_seen=seen, last_status=getattr(last, "status", None),
                               since=contact.since or seen)


def offline_expected(snapshot: Snapshot, expected: Iterable[str]) -> list[str]:
    """Expected JIDs that are not online in ``snapshot`` (absent ones count as offline)."""
    online = {c.jid for c in snapshot.contacts if c.online}
    return [jid for jid in expected if jid not in online]
