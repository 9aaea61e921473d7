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
from collections.abc import AsyncIterator, Sequence
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
    found = [t async for t in stream_targets(session, jids, timeout, settle)]
    # in the order asked for (stream_targets yields in the order devices answer)
    by_request: dict[str, list[Target]] = {}
    for target in found:
        by_request.setdefault(target.requested, []).append(target)
    return [by_request[str(j)].pop(0) for j in jids]


async def stream_targets(
    session: Session, jids: Sequence[Jid], timeout: float, settle: float = SETTLE_SECONDS
) -> AsyncIterator[Target]:
    """Each requested JID's ``Target`` as soon as it is known, for work to start at once.

    Full JIDs come first, with no round trip; a bare JID as soon as its device has answered
    our initial presence (its resource, or that it is offline); the rest once the presence
    burst has settled, as ``resolve_targets`` would judge them.  Each JID is yielded once.
    """
    bare = [j for j in jids if not j.is_full]
    for jid in jids:
        if jid.is_full:
            yield Target(str(jid), str(jid), "ok")
    if not bare:
        return
    tracker = session.state(PresenceTracker)
    await session.guard(tracker.announce(timeout))
    subscribed = tracker.subscribed
    waiting: dict[str, list[Jid]] = {}
    for jid in bare:
        waiting.setdefault(jid.bare, []).append(jid)
    expected = set(waiting) & subscribed
    deadline = time.monotonic() + timeout
    started = tracker.started or time.monotonic()
    while expected:
        known = expected & tracker.answered  # set operations: cheap for a fleet
        known |= {b for b in expected - known if tracker.best(b) is not None}
        for name in known:
            for jid in waiting.pop(name):
                yield _target(jid, tracker, subscribed)
        expected -= known
        now = time.monotonic()
        quiet_since = max(tracker.last_change, started)
        if not expected or now >= deadline or now - quiet_since >= settle:
            break
        tracker.changed.clear()
        wait = min(deadline, quiet_since + settle) - now
        with contextlib.suppress(TimeoutError):
            await session.guard(asyncio.wait_for(tracker.changed.wait(), max(wait, 0.01)))
    for name in list(waiting):
        for jid in waiting.pop(name):
            yield _target(jid, tracker, subscribed)


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
