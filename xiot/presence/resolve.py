"""Find the full JID of each device from presence.

An iq to a device's bare JID is answered by its server, not the device (Prosody replies
``service-unavailable``), so a bare JID has to be turned into the full JID of a connected
resource first.  The operator is subscribed to its devices' presence, as real deployments
arrange: after our initial presence the server answers for every such contact, with its
available resources or a bare ``unavailable``.  We wait until every requested device has
answered (or the burst has clearly ended), and tell offline devices apart from devices we are
not subscribed to.  The presence itself is kept by ``PresenceTracker``, the Session's state.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal

from xiot.presence.tracker import PresenceTracker
from xiot.xmpp.jid import Jid

if TYPE_CHECKING:
    from xiot.xmpp.session import Session

__all__ = ["SETTLE_SECONDS", "PresenceTracker", "Target", "TargetStatus", "resolve_targets"]

TargetStatus = Literal["ok", "offline", "not-subscribed"]
#: Quiet time after the last presence before the burst is taken to be over (a fallback: the
#: wait normally ends when every requested device has answered).
SETTLE_SECONDS = 0.4


@dataclass(frozen=True)
class Target:
    """Where to send a request for one device the user named."""

    requested: str
    jid: str | None
    status: TargetStatus
    reason: str | None = None


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
    subscribed = tracker.subscribed
    waiting = bare & subscribed
    await session.guard(_wait_for_answers(tracker, waiting, time.monotonic() + timeout,
                                          settle, tracker.started or time.monotonic()))
    return [_target(j, tracker, subscribed) for j in jids]


async def _wait_for_answers(
    tracker: PresenceTracker, waiting: set[str], deadline: float, settle: float, started: float
) -> None:
    """Until every device in ``waiting`` has answered since our initial presence; a quiet
    ``settle`` seconds ends it early only for devices the server never answers for."""
    while True:
        missing = {b for b in waiting if b not in tracker.answered and tracker.best(b) is None}
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
