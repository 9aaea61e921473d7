"""What a person watching the fleet sees, as data: counts per state, recent changes first,
flapping contacts, and the end-of-watch summary.

Kept apart from any terminal library so the live view's content is tested without a screen,
and so the shell can draw the same view its own way.  Updating is O(1) per event: a fleet
monitor that re-renders the whole contact list per presence is what freezes GUI clients at a
few hundred contacts.
"""

from __future__ import annotations

import collections
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from xiot.presence.model import STATES, ContactState, PresenceChange
from xiot.presence.tracker import FLAP_WINDOW

RECENT = 200


@dataclass(frozen=True)
class WatchSummary:
    seconds: float
    changes: int
    connections: int
    counts: dict[str, int]
    flapping: tuple[str, ...]

    def lines(self) -> list[str]:
        counts = ", ".join(f"{n} {state}" for state, n in self.counts.items()) or "no contacts"
        text = [f"watched {self.seconds:.1f}s: {self.changes} change"
                f"{'s' * (self.changes != 1)}; now {counts}"]
        if self.connections > 1:
            text.append(f"reconnected {self.connections - 1} time"
                        f"{'s' * (self.connections != 2)}")
        if self.flapping:
            shown = ", ".join(self.flapping[:10]) + (" ..." if len(self.flapping) > 10 else "")
            text.append(f"flapping: {shown}")
        return text

    def to_record(self) -> dict[str, object]:
        return {"seconds": round(self.seconds, 3), "changes": self.changes,
                "connections": self.connections, "counts": self.counts,
                "flapping": list(self.flapping)}


class FleetView:
    """The state of every watched contact and the most recent changes."""

    def __init__(self) -> None:
        self.states: dict[str, str] = {}
        self.counts: collections.Counter[str] = collections.Counter()
        self.recent: collections.deque[PresenceChange] = collections.deque(maxlen=RECENT)
        self.flapping: dict[str, float] = {}
        self.changes = 0
        self.connections = 1
        self.note = ""
        self.started = time.monotonic()
        self.version = 0
        #: The first settled view has been taken (before: still connecting or settling).
        self.settled = False

    def apply(self, change: PresenceChange) -> None:
        self.version += 1
        if change.jid is None:
            if change.event == "lost":
                self.note = "connection lost: reconnecting"
            elif change.event == "resynced":
                self.connections += 1
                self.note = "reconnected and re-synced"
            return
        previous = self.states.get(change.jid)
        if previous is not None:
            self.counts[previous] -= 1
        state = change.state or "unknown"
        self.states[change.jid] = state
        self.counts[state] += 1
        if change.event != "initial":
            self.changes += 1
            self.recent.appendleft(change)
        if change.flapping:
            self.flapping[change.jid] = change.mono

    def seed(self, contacts: Mapping[str, ContactState]) -> None:
        """Take the whole settled view (after the first settle and after each re-sync)."""
        self.version += 1
        self.settled = True
        self.states = {jid: c.state for jid, c in contacts.items()}
        self.counts = collections.Counter(self.states.values())

    def apply_all(self, changes: Iterable[PresenceChange]) -> None:
        for change in changes:
            self.apply(change)

    def state_counts(self) -> dict[str, int]:
        return {state: self.counts[state] for state in STATES if self.counts[state] > 0}

    def online(self) -> int:
        return sum(n for state, n in self.counts.items()
                   if state not in ("unavailable", "unknown"))

    def is_flapping(self, jid: str) -> bool:
        """Marked as flapping within the last ``FLAP_WINDOW`` seconds."""
        marked = self.flapping.get(jid)
        return marked is not None and time.monotonic() - marked <= FLAP_WINDOW

    def summary(self) -> WatchSummary:
        return WatchSummary(time.monotonic() - self.started, self.changes, self.connections,
                            self.state_counts(), tuple(sorted(self.flapping)))
