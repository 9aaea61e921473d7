"""``xiot provision roster apply`` on a real server: mutual subscriptions, dry run, pending,
prune, device to device, idempotence, and an interrupted run resumed."""

from __future__ import annotations

import json
import signal
from pathlib import Path

from tests.helpers import xiot
from tests.integration.presence.conftest import Stream
from tests.integration.provision.conftest import csv_of


def _by_jid(result) -> dict[str, dict]:  # type: ignore[no-untyped-def]
    return {r["jid"]: r for r in result.ndjson()}


def _make(env: dict, jids: list[str]) -> None:
    made = xiot("provision", "accounts", "create", "-", env=env, stdin=csv_of(jids))
    assert made.code == 0, made.stderr


def _roster(env: dict, owner_env: dict | None = None) -> dict[str, dict]:
    """The owner's roster as the snapshot shows it (subscription, name, groups)."""
    rows = xiot("presence", "snapshot", "--no-last", "--quiet", "0.5", "-o", "ndjson",
                env=owner_env or env)
    assert rows.code in (0, 6), rows.stderr
    return {r["jid"]: r for r in rows.ndjson()}


def test_operator_and_devices_mutual_dry_run_prune_and_idempotence(prov_env):
    ops = "ops1@xiot.test"
    devices = [f"rd{i}@xiot.test" for i in range(1, 5)]
    _make(prov_env, [ops, *devices])
    owner_env = dict(prov_env, XIOT_JID=ops, XIOT_PASSWORD=_password(ops))
    Path("fleet.csv").write_text(
        "jid,name,groups\n" + "".join(f"{d},Device {d[2]},devices;hall\n" for d in devices)
        + "stranger@xiot.test,Nobody,\n")
    dry = xiot("provision", "roster", "apply", "fleet.csv", "--owner", ops, "--dry-run",
               env=prov_env)
    assert dry.code == 0, dry.stderr
    assert {r["status"] for r in dry.ndjson()} == {"would-create"}
    assert _by_jid(dry)["rd1@xiot.test"]["changes"] == ["add item", "subscribe", "approve"]
    assert "dry run: nothing was changed" in dry.stderr
    assert _roster(prov_env, owner_env) == {}  # the dry run changed nothing

    applied = xiot("provision", "roster", "apply", "fleet.csv", "--owner", ops, env=prov_env)
    assert applied.code == 0, applied.stderr
    results = _by_jid(applied)
    assert {results[d]["status"] for d in devices} == {"created"}
    assert results["stranger@xiot.test"]["status"] == "pending"
    assert "no password for it" in results["stranger@xiot.test"]["reason"]
    roster = _roster(prov_env, owner_env)
    assert {d: roster[d]["subscription"] for d in devices} == dict.fromkeys(devices, "both")
    assert roster["rd1@xiot.test"]["name"] == "Device 1"
    assert sorted(roster["rd1@xiot.test"]["groups"]) == ["devices", "hall"]

    again = xiot("provision", "roster", "apply", "fleet.csv", "--owner", ops, env=prov_env)
    assert {_by_jid(again)[d]["status"] for d in devices} == {"unchanged"}
    assert "4 unchanged" in again.stderr

    Path("fewer.csv").write_text("jid,name,groups\n" + "".join(
        f"{d},Renamed,devices\n" for d in devices[:2]))
    dry_prune = xiot("provision", "roster", "apply", "fewer.csv", "--owner", ops, "--prune",
                     "--dry-run", env=prov_env)
    plan = _by_jid(dry_prune)
    assert plan["rd1@xiot.test"]["status"] == "would-update"
    assert plan["rd1@xiot.test"]["changes"] == ["name 'Device 1' -> 'Renamed'", "groups -hall"]
    assert {plan[d]["status"] for d in devices[2:]} == {"would-remove"}
    assert plan["rd3@xiot.test"]["line"] is None
    assert len(_roster(prov_env, owner_env)) == 5  # still nothing changed
    pruned = xiot("provision", "roster", "apply", "fewer.csv", "--owner", ops, "--prune",
                  env=prov_env)
    assert pruned.code == 0, pruned.stderr
    assert {r["jid"]: r["status"] for r in pruned.ndjson()} == {
        "rd1@xiot.test": "updated", "rd2@xiot.test": "updated", "rd3@xiot.test": "removed",
        "rd4@xiot.test": "removed", "stranger@xiot.test": "removed"}
    assert sorted(_roster(prov_env, owner_env)) == devices[:2]


def _password(jid: str) -> str:
    from xiot.provision.store import AccountsFile

    password = AccountsFile(Path("xiot-accounts.csv")).get(jid)
    assert password is not None
    return password


def test_device_to_device_rows_log_in_as_each_owner(prov_env):
    pair = ["dd1@xiot.test", "dd2@xiot.test"]
    _make(prov_env, pair)
    rows = [{"owner": pair[0], "jid": pair[1], "name": "peer", "groups": ["peers"]},
            {"owner": pair[1], "jid": pair[0], "subscription": "both"}]
    text = "".join(json.dumps(r) + "\n" for r in rows)
    result = xiot("provision", "roster", "apply", "-", env=prov_env, stdin=text)
    assert result.code == 0, result.stderr
    assert {r["status"] for r in result.ndjson()} <= {"created", "updated"}
    first = dict(prov_env, XIOT_JID=pair[0], XIOT_PASSWORD=_password(pair[0]))
    seen = _roster(prov_env, first)
    assert seen[pair[1]]["subscription"] == "both" and seen[pair[1]]["groups"] == ["peers"]
    again = xiot("provision", "roster", "apply", "-", env=prov_env, stdin=text)
    assert {r["status"] for r in again.ndjson()} == {"unchanged"}


def test_an_owner_without_credentials_fails_its_rows(prov_env):
    result = xiot("provision", "roster", "apply", "-", env=prov_env,
                  stdin="owner,jid\nnobody@xiot.test,rd1@xiot.test\n")
    assert result.code == 1
    row = result.ndjson()[0]
    assert row["status"] == "failed" and "no password for nobody@xiot.test" in row["reason"]


def test_an_interrupted_apply_resumes(prov_env):
    ops = "ops2@xiot.test"
    devices = [f"rr{i:03d}@xiot.test" for i in range(1, 61)]
    _make(prov_env, [ops, *devices])
    owner_env = dict(prov_env, XIOT_JID=ops, XIOT_PASSWORD=_password(ops))
    Path("many.csv").write_text(csv_of(devices))
    run = Stream(["provision", "roster", "apply", "many.csv", "--owner", ops, "-k", "1",
                  "-o", "ndjson"], prov_env)
    deadline_rows = _wait_items(prov_env, owner_env, 10)
    assert deadline_rows >= 10
    code, _ = run.finish(signal.SIGINT)
    assert code == 130
    halfway = _roster(prov_env, owner_env)
    assert len(halfway) >= 10 and not all(
        halfway.get(d, {}).get("subscription") == "both" for d in devices)
    resumed = xiot("provision", "roster", "apply", "many.csv", "--owner", ops, env=prov_env,
                   timeout=300)
    assert resumed.code == 0, resumed.stderr
    assert {r["status"] for r in resumed.ndjson()} <= {"created", "updated", "unchanged"}
    final = _roster(prov_env, owner_env)
    assert {d: final[d]["subscription"] for d in devices} == dict.fromkeys(devices, "both")


def _wait_items(env: dict, owner_env: dict, count: int) -> int:
    import time

    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        found = len(_roster(env, owner_env))
        if found >= count:
            return found
        time.sleep(0.2)
    return 0


def test_a_shard_of_the_rows_for_one_operator(prov_env):
    from xiot.presence.model import Shard

    ops = "ops3@xiot.test"
    devices = [f"sh{i:02d}@xiot.test" for i in range(1, 21)]
    _make(prov_env, [ops, *devices])
    Path("all.csv").write_text(csv_of(devices))
    result = xiot("provision", "roster", "apply", "all.csv", "--owner", ops, "--shard", "2/3",
                  "--dry-run", env=prov_env)
    assert result.code == 0, result.stderr
    mine = {r["jid"] for r in result.ndjson()}
    assert mine == {d for d in devices if Shard(2, 3).holds(d)}
    assert f"{20 - len(mine)} rows outside shard 2/3" in result.stderr
