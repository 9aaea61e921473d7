"""Parsing what servers send: the roster (and its cache), XEP-0133 online users."""

from __future__ import annotations

import xml.etree.ElementTree as ET

from xiot.presence.online import parse_online
from xiot.presence.roster import Roster, RosterItem, load_cache, parse_items, save_cache

ROSTER = """<query xmlns="jabber:iq:roster" ver="7">
  <item jid="dev1@x.test" name="Pump 1" subscription="both"><group>devices</group>
    <group>hall</group></item>
  <item jid="dev2@x.test" subscription="none" ask="subscribe"/>
  <item subscription="both"/>
</query>"""

#: What Prosody 0.12's admin#get-online-users-list returns with details (recorded).
PROSODY_LINES = ["admin@xiot.test", " - N2CDiHRWqVkb: available(-1), IP: [127.0.0.1]",
                 "dev0001@xiot.test", " - sim: away(5), IP: [127.0.0.1]",
                 " - spare: available(0), IP: [127.0.0.1]"]


def test_roster_items_straight_from_xml():
    items = parse_items(ET.fromstring(ROSTER))
    assert items["dev1@x.test"] == RosterItem("dev1@x.test", "both", "Pump 1",
                                              ("devices", "hall"))
    assert items["dev1@x.test"].sees_presence
    assert items["dev2@x.test"].pending_out and not items["dev2@x.test"].sees_presence
    assert len(items) == 2


def test_roster_cache_round_trip_is_private(tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path))
    roster = Roster(parse_items(ET.fromstring(ROSTER)), "7", versioned=True)
    save_cache("k1", roster)
    path = tmp_path / "xiot" / "rosters" / "k1.json"
    assert path.stat().st_mode & 0o777 == 0o600
    loaded = load_cache("k1")
    assert loaded is not None and loaded.items == roster.items and loaded.version == "7"
    assert load_cache("missing") is None
    path.write_text("{not json")
    assert load_cache("k1") is None


def test_a_roster_push_updates_and_removes():
    roster = Roster({"a@x": RosterItem("a@x", "both")}, "1")
    pushed = roster.with_push(RosterItem("b@x", "to"), "b@x", "2").with_push(None, "a@x", "3")
    assert set(pushed.items) == {"b@x"} and pushed.version == "3"


def test_online_users_from_prosody_details():
    rows = {r.jid: r for r in parse_online(PROSODY_LINES)}
    assert set(rows) == {"admin@xiot.test", "dev0001@xiot.test"}
    dev = rows["dev0001@xiot.test"]
    assert dev.source == "server" and dev.state == "away" and dev.priority == 5
    assert [r.name for r in dev.resources] == ["sim", "spare"]


def test_online_users_as_plain_jids():
    rows = parse_online(["dev1@x.test/sim", "dev2@x.test", "dev1@x.test/other", "junk"])
    assert [(r.jid, [x.name for x in r.resources]) for r in rows] == [
        ("dev1@x.test", ["sim", "other"]), ("dev2@x.test", [])]
    assert all(r.state == "available" for r in rows)
