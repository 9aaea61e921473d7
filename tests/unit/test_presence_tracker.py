"""The Session's presence tracker: who answered, settle, changes, flapping, the view."""

from __future__ import annotations

import asyncio
import time

from tests.unit.iot.harness import Peer
from xiot.presence.roster import Roster, RosterItem
from xiot.presence.tracker import FLAP_CHANGES, PresenceTracker
from xiot.presence.view import FleetView
from xiot.presence.watch import Watcher, WatchOptions

ME = "admin@x.test/ops"
FLEET = [f"dev{i}@x.test" for i in range(1, 6)]


def _tracker(subscribed=FLEET, others=()):  # type: ignore[no-untyped-def]
    peer = Peer(ME)
    tracker = peer.session.state(PresenceTracker)
    tracker.own = ME
    items = {j: RosterItem(j, "both", groups=("devices",)) for j in subscribed}
    items |= {j: RosterItem(j, "none") for j in others}
    tracker.roster = Roster(items)
    tracker.started = time.monotonic()
    tracker._pending = set(tracker.subscribed)
    return peer, tracker


def _presence(peer, sender, kind=None, show=None, status=None, priority=None, stamp=None):  # type: ignore[no-untyped-def]
    attrs = f' type="{kind}"' if kind else ""
    body = (f"<show>{show}</show>" if show else "") + \
        (f"<status>{status}</status>" if status else "") + \
        (f"<priority>{priority}</priority>" if priority is not None else "") + \
        (f'<delay xmlns="urn:xmpp:delay" stamp="{stamp}"/>' if stamp else "")
    peer.deliver(f'<presence xmlns="jabber:client" from="{sender}"{attrs}>{body}</presence>')


def test_every_presence_type_counts_and_show_is_kept():
    peer, tracker = _tracker()
    _presence(peer, "dev1@x.test/a", show="away", status="lunch", priority=3,
              stamp="2024-01-02T03:04:05Z")
    _presence(peer, "dev2@x.test/a", show="dnd")
    _presence(peer, "dev3@x.test", kind="unavailable")
    one = tracker.contact("dev1@x.test")
    assert (one.state, one.status, one.priority) == ("away", "lunch", 3)
    assert one.since.isoformat() == "2024-01-02T03:04:05+00:00"
    assert tracker.contact("dev2@x.test").state == "dnd"
    assert tracker.contact("dev3@x.test").state == "unavailable"
    assert tracker.contact("dev4@x.test").state == "unknown"
    assert tracker.answered == {"dev1@x.test", "dev2@x.test", "dev3@x.test"}
    assert tracker.best("dev2@x.test") == "dev2@x.test/a"


def test_our_own_presence_and_subscription_requests_are_not_contacts():
    peer, tracker = _tracker()
    _presence(peer, ME)
    _presence(peer, "dev1@x.test", kind="subscribe")
    assert tracker.contacts == {} and tracker.answered == set()


def test_settled_when_every_subscribed_contact_answered():
    async def main():
        peer, tracker = _tracker(others=("stranger@x.test",))
        for jid in FLEET[:-1]:
            _presence(peer, f"{jid}/r")
        waiting = asyncio.ensure_future(tracker.wait_settled(time.monotonic() + 10, 5))
        await asyncio.sleep(0.05)
        assert not waiting.done()
        _presence(peer, FLEET[-1], kind="unavailable")
        settle = await asyncio.wait_for(waiting, 2)
        return settle

    settle = asyncio.run(main())
    assert settle.reason == "all-answered"
    assert (settle.expected, settle.answered) == (5, 5)


def test_quiet_period_is_only_a_fallback_and_the_deadline_bounds_it():
    async def main():
        peer, tracker = _tracker()
        _presence(peer, "dev1@x.test/r")
        quiet = await tracker.wait_settled(time.monotonic() + 10, 0.2)
        late = await tracker.wait_settled(time.monotonic() + 0.2, 10)
        return quiet, late

    quiet, late = asyncio.run(main())
    assert quiet.reason == "quiet" and quiet.answered == 1
    assert late.reason == "timeout" and not late.settled


def test_changes_reach_listeners_and_flapping_is_marked():
    peer, tracker = _tracker()
    _presence(peer, "dev1@x.test/r")
    seen = []
    tracker.listen(seen.append)
    _presence(peer, "dev1@x.test/r", show="away", status="busy")
    _presence(peer, "dev1@x.test/r", show="away", status="busy")  # no change: no event
    assert [(c.previous, c.state, c.status) for c in seen] == [("available", "away", "busy")]
    for _ in range(FLAP_CHANGES):
        _presence(peer, "dev1@x.test/r", kind="unavailable")
        _presence(peer, "dev1@x.test/r")
    assert seen[-1].flapping and tracker.is_flapping("dev1@x.test")
    assert [c.seq for c in seen] == list(range(1, len(seen) + 1))


def test_a_lost_resource_keeps_the_others():
    peer, tracker = _tracker()
    _presence(peer, "dev1@x.test/a", priority=1)
    _presence(peer, "dev1@x.test/b", show="xa", priority=5)
    assert tracker.contact("dev1@x.test").state == "xa"
    _presence(peer, "dev1@x.test/b", kind="unavailable")
    assert tracker.contact("dev1@x.test").state == "available"
    _presence(peer, "dev1@x.test/a", kind="unavailable")
    gone = tracker.contact("dev1@x.test")
    assert gone.state == "unavailable" and gone.since is not None


def test_a_watcher_reports_initial_state_then_what_changed_while_away():
    events = []
    synced = []
    watcher = Watcher(WatchOptions(), events.append, synced.append)
    peer, tracker = _tracker()
    for jid in FLEET:
        _presence(peer, f"{jid}/r")
    watcher._sync(tracker, first=True)
    assert [e.event for e in events] == ["initial"] * 5
    # a new connection after a server restart: two devices did not come back, one is away
    peer2, tracker2 = _tracker()
    for jid in FLEET[:2]:
        _presence(peer2, f"{jid}/r")
    _presence(peer2, f"{FLEET[2]}/r", show="away")
    for jid in FLEET[3:]:
        _presence(peer2, jid, kind="unavailable")
    watcher._sync(tracker2, first=False)
    away = [(e.jid, e.previous, e.state) for e in events if e.event == "while-away"]
    assert away == [(FLEET[2], "available", "away"), (FLEET[3], "available", "unavailable"),
                    (FLEET[4], "available", "unavailable")]
    assert events[-1].event == "resynced"
    assert [e.seq for e in events] == list(range(1, len(events) + 1))
    view = FleetView()
    view.seed(synced[-1])
    assert view.state_counts() == {"available": 2, "away": 1, "unavailable": 2}


def test_the_view_counts_and_keeps_recent_changes_first():
    events = []
    watcher = Watcher(WatchOptions(count=2), events.append)
    peer, tracker = _tracker()
    for jid in FLEET:
        _presence(peer, f"{jid}/r")
    watcher._tracker = tracker
    watcher._sync(tracker, first=True)
    tracker.listen(watcher._on_change)
    _presence(peer, "dev1@x.test/r", kind="unavailable")
    _presence(peer, "stranger@y.test/r")  # not in the roster: not part of the fleet
    _presence(peer, "dev2@x.test/r", show="dnd")
    assert watcher.done.is_set() and watcher.changes == 2
    view = FleetView()
    view.apply_all(events)
    assert view.state_counts() == {"available": 3, "dnd": 1, "unavailable": 1}
    assert [c.jid for c in view.recent] == ["dev2@x.test", "dev1@x.test"]
    assert view.summary().changes == 2


def test_a_device_that_is_away_or_busy_is_still_online_for_resolution():
    """Presence with a <show> (away, xa, dnd, chat) is available presence: the tracker used to
    listen for plain 'available' only, so readout called an away device offline."""
    peer, tracker = _tracker()
    _presence(peer, "dev1@x.test/sim", show="away", status="maintenance")
    _presence(peer, "dev2@x.test/sim", show="dnd")
    _presence(peer, "dev3@x.test/sim", show="chat", priority=-1)
    assert tracker.best("dev1@x.test") == "dev1@x.test/sim"
    assert tracker.best("dev2@x.test") == "dev2@x.test/sim"
    assert tracker.best("dev3@x.test") == "dev3@x.test/sim"
