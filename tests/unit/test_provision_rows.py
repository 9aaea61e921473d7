"""Provisioning input: CSV and JSON Lines rows, every problem named with its line."""

from __future__ import annotations

import pytest

from xiot.errors import UsageError
from xiot.presence.model import Shard
from xiot.presence.roster import RosterItem
from xiot.provision.accounts import check_accounts
from xiot.provision.rosters import RosterRow, check_roster_rows, diff, in_shard
from xiot.provision.rows import refuse
from xiot.provision.store import AccountsFile


def test_csv_and_json_lines_give_the_same_rows():
    csv_text = "# fleet\njid,password\nPump1@Plant.example,pw\n\npump2@plant.example,\n"
    json_text = ('{"jid": "pump1@plant.example", "password": "pw"}\n'
                 '# comment\n{"jid": "pump2@plant.example"}\n')
    a, b = check_accounts(csv_text, "f.csv", "create"), check_accounts(json_text, "f", "create")
    assert not a.problems and not b.problems
    assert [(r.jid, r.password) for r in a.rows] == [(r.jid, r.password) for r in b.rows] == [
        ("pump1@plant.example", "pw"), ("pump2@plant.example", None)]
    assert [r.line for r in a.rows] == [3, 5]  # lines of the file, comments counted


def test_every_bad_row_is_named_with_its_line():
    text = ("jid,password\n"
            "ok@plant.example,x\n"
            "not a jid,x\n"
            ",x\n"
            "ok@plant.example,y\n"
            "dev@plant.example/res,x\n"
            "plant.example,x\n"
            "a@plant.example,x,extra\n")
    checked = check_accounts(text, "in.csv", "create")
    assert [r.jid for r in checked.rows] == ["ok@plant.example"]
    reasons = {p.line: p.reason for p in checked.problems}
    assert sorted(reasons) == [3, 4, 5, 6, 7, 8]
    assert "bad jid 'not a jid'" in reasons[3]
    assert reasons[4] == "missing jid"
    assert reasons[5] == "duplicate of line 2"
    assert "has a resource" in reasons[6] and "is a domain" in reasons[7]
    assert "3 cells for 2 columns" in reasons[8]
    error = refuse("in.csv", checked.problems)
    assert error.exit_code == 2
    assert "in.csv: 6 invalid rows, nothing was changed: line 3:" in error.message


def test_json_lines_problems():
    checked = check_accounts('{"jid": "a@x.example"}\n{nope\n[1]\n{"password": "p"}\n',
                             "in.jsonl", "delete")
    assert {p.line: p.reason.split(" (")[0] for p in checked.problems} == {
        2: "not JSON", 3: "not a JSON object", 4: "missing jid"}


def test_an_empty_input_is_a_usage_error():
    with pytest.raises(UsageError):
        check_accounts("# nothing\n\n", "empty.csv", "create")


def test_roster_rows_default_owner_groups_and_subscription():
    text = ('jid,name,groups,subscription,owner\n'
            'd1@x.example,Pump,a;b,,\n'
            'd2@x.example,,,to,other@x.example\n'
            'd1@x.example,,,,ops@x.example\n'
            'd3@x.example,,,sometimes,\n'
            'ops@x.example,,,,\n')
    checked = check_roster_rows(text, "r.csv", "ops@x.example")
    assert checked.rows[0] == RosterRow(2, "ops@x.example", "d1@x.example", "Pump", ("a", "b"))
    assert checked.rows[1].owner == "other@x.example" and checked.rows[1].subscription == "to"
    reasons = {p.line: p.reason for p in checked.problems}
    assert reasons[4] == "duplicate of line 2"
    assert "subscription 'sometimes'" in reasons[5]
    assert "its own roster" in reasons[6]
    json_groups = check_roster_rows('{"jid": "d@x.example", "groups": ["a", "b c"]}\n', "j",
                                    "ops@x.example")
    assert json_groups.rows[0].groups == ("a", "b c")


def test_diff_says_what_would_change():
    row = RosterRow(1, "o@x", "d@x", "Pump", ("a",), "both")
    assert diff(None, row) == ["add item", "subscribe", "approve"]
    same = RosterItem("d@x", "both", "Pump", ("a",))
    assert diff(same, row) == []
    assert diff(RosterItem("d@x", "from", "P", ("a", "b"), pending_out=True), row) == [
        "name 'P' -> 'Pump'", "groups -b", "awaiting approval"]
    assert diff(RosterItem("d@x", "to"), RosterRow(1, "o@x", "d@x", subscription="to")) == []


def test_roster_shards_split_the_rows():
    rows = [RosterRow(i, "o@x", f"d{i}@x") for i in range(100)]
    halves = [in_shard(rows, Shard(k, 2)) for k in (1, 2)]
    assert len(halves[0]) + len(halves[1]) == 100
    assert not {r.jid for r in halves[0]} & {r.jid for r in halves[1]}


def test_accounts_file_is_private_appends_and_forgets(tmp_path):
    store = AccountsFile(tmp_path / "acc.csv")
    store.record("a@x", "one")
    store.record("b@x", "two")
    store.record("a@x", "three")
    assert (tmp_path / "acc.csv").stat().st_mode & 0o777 == 0o600
    fresh = AccountsFile(tmp_path / "acc.csv")
    assert fresh.get("a@x") == "three" and fresh.get("B@x") == "two"
    fresh.forget("a@x")
    assert AccountsFile(tmp_path / "acc.csv").passwords() == {"b@x": "two"}
    assert (tmp_path / "acc.csv").stat().st_mode & 0o777 == 0o600
    (tmp_path / "acc.csv").chmod(0o644)
    assert "readable by others" in (fresh.check_private() or "")
