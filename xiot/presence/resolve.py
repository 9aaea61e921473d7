"""Find the full JID of each device from presence.

An iq to a device's bare JID is answered by its server, not the device (Prosody replies
``service-unavailable``), so a bare JID has to be turned into the full JID of a connected
resource first.  The operator is subscribed to its devices' presence, as real deployments
arrange: after our initial presence the server sends the presence of every contact that is
online.  We wait until every requested device has been seen, or until that burst has clearly
ended, and tell offline devices apart from devices we are not subscribed to.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

from xiot.xmpp.jid import Jid

if TYPE_CHECKING:
    from xiot.xmpp.session import Session

TargetStatus = Literal["ok", "offline", "not-subscribed"]
#: Quiet time after the last presence before the burst is taken to be over.
SETTLE_SECONDS = 0.4


@dataclass(frozen=True)
class Target:
    """Where to send a request for one device the user named."""

    requested: str
    jid: str | None
    status: TargetStatus
    reason: str | None = None


class PresenceTracker:
    """Available resources per bare JID, kept current from presence stanzas.

    One per connection, owned by the Session (``session.state(PresenceTracker)``): the server
    sends the presence burst and the roster only once per stream.
    """

    def __init__(self, session: Session) -> None:
        xmpp = session.client
        self.session = session
        self.xmpp = xmpp
        self.subscribed: set[str] = set()
        self.started: float | None = None
        self._announced: asyncio.Future[None] | None = None
        self.resources: dict[str, dict[str, int]] = {}
        self.last_change = time.monotonic()
        self.changed = asyncio.Event()
        xmpp.add_event_handler("presence_available", self._on_available)
        xmpp.add_event_handler("presence_unavailable", self._on_unavailable)

    def close(self) -> None:
        self.xmpp.del_event_handler("presence_available", self._on_available)
        self.xmpp.del_event_handler("presence_unavailable", self._on_unavailable)

    def _on_available(self, presence: Any) -> None:
        sender = presence["from"]
        self.resources.setdefault(sender.bare, {})[sender.resource] = presence["priority"] or 0
        self._touch()

    def _on_unavailable(self, presence: Any) -> None:
        sender = presence["from"]
        self.resources.get(sender.bare, {}).pop(sender.resource, None)
        self._touch()

    def _touch(self) -> None:
        self.last_change = time.monotonic()
        self.changed.set()

    def best(self, bare: str) -> str | None:
        """The full JID of the highest-priority available resource of ``bare``.

        Our own session is never chosen: asking ourselves would only wait for a timeout.
        """
        own = str(self.xmpp.boundjid)
        found = {r: p for r, p in self.resources.get(bare, {}).items()
                 if f"{bare}/{r}" != own}
        if not found:
            return None
        resource = max(found, key=lambda r: found[r])
        return f"{bare}/{resource}" if resource else bare


    async def announce(self, timeout: float) -> None:
        """Send our initial presence and read the roster, once per connection."""
        if self._announced is None:
            self._announced = asyncio.ensure_future(self._announce(timeout))
        await asyncio.shield(self._announced)

    async def _announce(self, timeout: float) -> None:
        roster_task = asyncio.ensure_future(self.xmpp.get_roster(timeout=timeout))
        # Negative priority: messages to our bare JID should never land in this short session.
        self.xmpp.send_presence(ppriority=-1)
        self.started = time.monotonic()
        roster = await _wait_roster(roster_task, timeout)
        self.subscribed = {jid for jid, sub in roster.items() if sub in ("to", "both")}


async def resolve_targets(
    session: Session, jids: Sequence[Jid], timeout: float, settle: float = SETTLE_SECONDS
) -> list[Target]:
    """A ``Target`` per requested JID; full JIDs are taken as given, with no round trip.

    The first call on a connection announces our presence and reads the roster; later calls
    reuse what the server has pushed since, so a session can resolve devices many times.
    """
    bare = {j.bare for j in jids if not j.is_full}
    if not bare:
        return [Target(str(j), str(j), "ok") for j in jids]
    tracker = session.state(PresenceTracker)
    await session.guard(tracker.announce(timeout))
    waiting = bare & tracker.subscribed
    await session.guard(_wait_for_presences(tracker, waiting, time.monotonic() + timeout,
                                            settle, tracker.started or time.monotonic()))
    return [_target(j, tracker, tracker.subscribed) for j in jids]


async def _wait_roster(task: asyncio.Future[Any], timeout: float) -> dict[str, str]:
    """{bare JID: subscription} from the roster; empty if the server would not give one."""
    try:
        result = await asyncio.wait_for(task, timeout)
    except Exception:  # a missing roster only costs the offline/not-subscribed distinction
        return {}
    items = result["roster"]["items"] if result is not None else {}
    return {str(jid): item["subscription"] for jid, item in items.items()}


async def _wait_for_presences(
    tracker: PresenceTracker, waiting: set[str], deadline: float, settle: float, started: float
) -> None:
    while True:
        missing = {b for b in waiting if tracker.best(b) is None}
        now = time.monotonic()
        quiet_since = max(tracker.last_change, started)
        if not missing or now >= deadline or now - quiet_since >= settle:
            return
        tracker.changed.clear()
        wait = min(deadline, quiet_since + settle) - now
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(tracker.changed.wait(), max(wait, 0.01))


def _target(jid: Jid, tracker: PresenceTracker, subscribed: set[str]) -> Target:
    if jid.is_full:
        return Target(str(jid), str(jid), "ok")
    full = tracker.best(jid.bare)
    if full is not None:
        return Target(str(jid), full, "ok")
    if jid.bare not in subscribed:
        return Target(str(jid), None, "not-subscribed",
                      f"not subscribed to the presence of {jid.bare}: cannot find its full "
                      "JID (subscribe to it, or give user@domain/resource)")
    return Target(str(jid), None, "offline", f"{jid.bare} is offline (no available presence)")
