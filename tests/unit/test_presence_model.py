"""The presence model: states, the best resource, shards."""

from __future__ import annotations

import datetime as dt

import pytest

from xiot.errors import UsageError
from xiot.presence.model import (
    ContactState,
    PresenceChange,
    Resource,
    Shard,
    best_resource,
    shard_index,
    state_of,
)


def test_state_of_a_stanza():
    assert state_of(None, None) == "available"
    assert state_of(None, "away") == "away"
    assert state_of(None, "bogus") == "available"
    assert state_of("unavailable", "away") == "unavailable"
    assert state_of("error", None) == "unavailable"


def test_the_best_resource_is_the_highest_priority_then_the_most_available():
    low = Resource("a", "chat", priority=-5)
    high = Resource("b", "dnd", priority=10)
    tie = Resource("c", "available", priority=10)
    assert best_resource((low, high)) is high
    assert best_resource((low, high, tie)) is tie
    assert best_resource(()) is None


def test_a_negative_priority_is_still_online():
    contact = ContactState.of("d@x", (Resource("r", "available", priority=-1),), True)
    assert contact.online and contact.state == "available" and contact.priority == -1


def test_a_contact_without_resources_is_offline_if_it_answered_else_unknown():
    assert ContactState.of("d@x", (), True).state == "unavailable"
    unknown = ContactState.of("d@x", (), False)
    assert unknown.state == "unknown" and unknown.source == "roster"


def test_records_have_stable_keys():
    contact = ContactState.of("d@x", (Resource("r", "away", "lunch", 1),), True)
    assert list(contact.to_record()) == ["jid", "state", "status", "priority", "resources",
                                         "since", "last_seen", "name", "groups",
                                         "subscription", "source"]
    change = PresenceChange(1, 2.0, dt.datetime.now(dt.UTC), "change", "d@x")
    assert list(change.to_record()) == ["seq", "shard", "mono", "time", "event", "jid",
                                        "resource", "state", "previous", "status",
                                        "priority", "flapping"]


def test_shard_parsing():
    assert Shard.parse("2/4") == Shard(2, 4)
    assert str(Shard.parse("1/1")) == "1/1"
    for bad in ("0/4", "5/4", "1/0", "a/b", "3", "1/2/3"):
        with pytest.raises(UsageError):
            Shard.parse(bad)


def test_shards_cover_a_fleet_exactly_once_and_evenly():
    fleet = [f"dev{i:05d}@plant.example" for i in range(10000)]
    shards = [Shard(k, 4) for k in range(1, 5)]
    held = [[jid for jid in fleet if shard.holds(jid)] for shard in shards]
    assert sorted(j for part in held for j in part) == sorted(fleet)
    assert all(2300 < len(part) < 2700 for part in held)


def test_the_shard_of_a_jid_is_stable_and_ignores_case():
    # sha256("dev0001@xiot.test") decides it, in any process and any language
    assert shard_index("dev0001@xiot.test", 7) == shard_index("DEV0001@xiot.test", 7)
    import hashlib

    digest = hashlib.sha256(b"dev0001@xiot.test").digest()
    assert shard_index("dev0001@xiot.test", 7) == int.from_bytes(digest[:8], "big") % 7 + 1
