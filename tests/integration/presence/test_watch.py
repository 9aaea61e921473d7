"""``xiot presence watch`` against the lab: shards that merge, and a server restart survived."""

from __future__ import annotations

import asyncio
import os
import signal
import time

import pytest

from tests.helpers import lab_settings
from tests.integration.presence.conftest import Stream, initial, side_fleet, sim_accounts
from xiot.lab import manager
from xiot.lab.ports import port_open
from xiot.xmpp.session import Session

LAB = "testlab"


def _visit(lab_accounts: dict, users: list[str], profile: str = LAB) -> None:
    """Log each device in (available), then out: two changes per device."""
    async def one(user: str) -> None:
        account = lab_accounts[user]
        settings = lab_settings(profile).with_jid(f"{account.jid}/visit")
        async with Session(settings, password=account.password, send_presence=True):
            await asyncio.sleep(0.5)

    async def all_of() -> None:
        await asyncio.gather(*(one(u) for u in users))

    asyncio.run(all_of())


def test_two_shard_watchers_merge_into_one_fleet(fleet, lab_env, lab_accounts):
    visitors = [f"dev{i:04d}" for i in range(41, 47)]
    shards = [Stream(["presence", "watch", "--shard", f"{k}/2", "--until-idle", "3",
                      "-o", "ndjson"], lab_env) for k in (1, 2)]
    for stream in shards:
        stream.wait_for(lambda rs: len(initial(rs)) > 0, what="the initial view")
    _visit(lab_accounts, visitors)
    results = [stream.finish(timeout=60) for stream in shards]
    assert [code for code, _ in results] == [0, 0], results
    first, second = (initial(s.records) for s in shards)
    assert not first.keys() & second.keys()
    assert len(first) + len(second) == 50  # the fleet, each contact exactly once
    merged = sorted(shards[0].records + shards[1].records, key=lambda r: r["mono"])
    assert {tuple(r) for r in merged} == {tuple(merged[0])}  # one key set, one order
    for stream, shard in zip(shards, ("1/2", "2/2"), strict=True):
        assert {r["shard"] for r in stream.records} == {shard}
        seqs = [r["seq"] for r in stream.records]
        assert seqs == list(range(1, len(seqs) + 1))
    changes = [r for r in merged if r["event"] == "change"]
    for user in visitors:
        mine = [r["state"] for r in changes if r["jid"] == f"{user}@xiot.test"]
        assert mine == ["available", "unavailable"], (user, mine)
    # each change is seen by the one watcher whose shard holds the device
    for stream in shards:
        held = initial(stream.records).keys()
        assert all(r["jid"] in held for r in stream.records if r["event"] == "change")


RESTART_LAB = "presrestart"


@pytest.fixture()
def restart_lab():
    lab, _ = manager.up(name=RESTART_LAB, devices=12)
    yield lab
    manager.down(RESTART_LAB)


def _kill(lab: manager.Lab) -> None:
    """kill -9 the lab's Prosody and wait until it is gone."""
    os.kill(lab.pid, signal.SIGKILL)
    deadline = time.monotonic() + 10
    while lab.running() and time.monotonic() < deadline:
        time.sleep(0.05)


def _restart(lab: manager.Lab) -> None:
    """Start the killed lab again: a crashed lab comes back as it was (same directory,
    ports, CA and accounts)."""
    restarted, started = manager.up(name=lab.name, devices=lab.devices)
    assert started and restarted.ports == lab.ports
    assert port_open(lab.host, lab.ports["c2s"])


def test_watch_survives_a_server_restart_and_reports_what_changed(restart_lab):
    lab = restart_lab
    accounts = {a.user: a for a in manager.accounts(lab)}
    env = dict(os.environ, XIOT_PROFILE=RESTART_LAB)
    users = [f"dev{i:04d}" for i in range(1, 11)]
    with side_fleet(RESTART_LAB, sim_accounts(accounts, users), seed=1) as devices:
        watch = Stream(["presence", "watch", "-o", "ndjson"], env)
        watch.wait_for(lambda rs: len(initial(rs)) == 12, what="the initial view")
        assert sum(r["state"] == "available" for r in initial(watch.records).values()) == 10
        # during the outage two devices are switched off for good
        gone = [devices.fleet.by_jid(f"{u}@xiot.test") for u in ("dev0009", "dev0010")]
        _kill(lab)
        # while the server is down (their streams are dead already), so that the watch can
        # only learn of it after it has reconnected: a change made while it was away
        for device in gone:
            devices.call(lambda d=device: asyncio.ensure_future(d.stop()))
        time.sleep(0.5)
        _restart(lab)
        watch.wait_for(lambda rs: any(r["event"] == "resynced" for r in rs), timeout=60,
                       what="a re-sync after the restart")

        def back(records: list[dict]) -> bool:
            states: dict[str, str] = {}
            for r in records:
                if r["jid"]:
                    states[r["jid"]] = r["state"]
            online = {j for j, s in states.items() if s == "available"}
            return online == {f"{u}@xiot.test" for u in users[:8]}

        watch.wait_for(back, timeout=60, what="the eight remaining devices back online")
        code, err = watch.finish(signal.SIGINT)
    records = watch.records
    assert code == 130
    events = [r["event"] for r in records]
    assert events.index("lost") < events.index("resynced")
    assert "lost; reconnecting in" in err and "reconnected" in err
    assert "reconnected 1 time" in err
    for user in ("dev0009", "dev0010"):
        after = [r for r in records[events.index("lost"):] if r["jid"] == f"{user}@xiot.test"]
        assert after and after[-1]["state"] == "unavailable"
        assert after[0]["event"] == "while-away" and after[0]["previous"] == "available"
    assert [r["seq"] for r in records] == list(range(1, len(records) + 1))


def test_count_stops_after_n_changes(fleet, lab_env, lab_accounts):
    watch = Stream(["presence", "watch", "--count", "2", "-o", "ndjson"], lab_env)
    watch.wait_for(lambda rs: len(initial(rs)) == 50, what="the initial view")
    _visit(lab_accounts, ["dev0047"])
    code, err = watch.finish(timeout=30)
    assert code == 0, err
    changes = [(r["event"], r["jid"], r["state"]) for r in watch.records
               if r["event"] != "initial"]
    assert changes == [("change", "dev0047@xiot.test", "available"),
                       ("change", "dev0047@xiot.test", "unavailable")]
    assert "watched " in err and "2 changes" in err
