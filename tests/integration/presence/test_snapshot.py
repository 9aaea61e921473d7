"""``xiot presence snapshot`` against the lab: accurate under churn, settled by answers."""

from __future__ import annotations

import asyncio
import time

from tests.helpers import lab_settings, xiot
from tests.integration.presence.conftest import side_fleet, sim_accounts
from xiot.xmpp.session import Session

LAB = "testlab"
CALM = [f"dev{i:04d}" for i in range(1, 31)]  # the session fleet
CHURNING = [f"dev{i:04d}" for i in range(31, 41)]
OFFLINE = [f"dev{i:04d}" for i in range(41, 51)]


def _by_user(result) -> dict[str, dict]:  # type: ignore[no-untyped-def]
    assert result.code == 0, result.stderr
    return {row["jid"].split("@")[0]: row for row in result.ndjson()}


def test_snapshot_is_accurate_while_devices_churn(fleet, lab_env, lab_accounts):
    with side_fleet(LAB, sim_accounts(lab_accounts, CHURNING), churn=0.15, seed=5) as churn:
        time.sleep(1)
        result = xiot("presence", "snapshot", "-o", "ndjson", env=lab_env)
        rows = _by_user(result)
        # the summary says the view settled because every contact answered: with devices
        # flapping every 0.15 s a quiet period would never have come
        assert "every contact answered, 50/50 answered" in result.stderr, result.stderr
        assert all(rows[u]["state"] == "available" for u in CALM)
        assert all(rows[u]["resources"] == ["sim"] for u in CALM)
        assert all(rows[u]["state"] == "unavailable" for u in OFFLINE)
        assert all(rows[u]["state"] in ("available", "unavailable") for u in CHURNING)
        assert {row["source"] for row in rows.values()} == {"presence"}
        # once the churn stops, the snapshot is exactly what the devices are
        churn.call(lambda: churn.fleet._churn_task.cancel())
        time.sleep(1.0)  # pending comebacks (at most 3 x churn) have happened
        truth = {d.account.jid.split("@")[0]: d.online for d in churn.fleet.devices}
        rows = _by_user(xiot("presence", "snapshot", "-o", "ndjson", env=lab_env))
    assert {u: rows[u]["state"] == "available" for u in CHURNING} == truth


def test_expect_online_names_the_offline_ones(fleet, lab_env):
    expected = "dev0001@xiot.test\ndev0045@xiot.test\n# a comment\ndev0046@xiot.test\n"
    result = xiot("presence", "snapshot", "-o", "ndjson", "--expect-online", "-",
                  env=lab_env, stdin=expected)
    assert result.code == 1, result.stderr
    line = result.stderr.strip().splitlines()[-1]
    assert "2 of 3 expected contacts not online" in line
    assert "dev0045@xiot.test" in line and "dev0046@xiot.test" in line
    assert "dev0001@xiot.test" not in line
    ok = xiot("presence", "snapshot", "-o", "ndjson", "--expect-online", "-", env=lab_env,
              stdin="dev0001@xiot.test\ndev0002@xiot.test\n")
    assert ok.code == 0, ok.stderr


def test_filters_group_match_and_shard(fleet, lab_env):
    rows = _by_user(xiot("presence", "snapshot", "--match", "dev000*", "--group", "devices",
                         "-o", "ndjson", env=lab_env))
    assert sorted(rows) == [f"dev000{i}" for i in range(1, 10)]
    none = xiot("presence", "snapshot", "--group", "nobody", "-o", "ndjson", env=lab_env)
    assert none.code == 0 and none.stdout == ""
    halves = [_by_user(xiot("presence", "snapshot", "--shard", f"{k}/2", "-o", "ndjson",
                            env=lab_env)) for k in (1, 2)]
    assert not set(halves[0]) & set(halves[1])
    assert len(halves[0]) + len(halves[1]) == 50


def test_roster_version_is_cached_between_runs(fleet, lab_env):
    first = xiot("presence", "snapshot", "-o", "ndjson", env=lab_env)
    second = xiot("presence", "snapshot", "-o", "ndjson", env=lab_env)
    assert first.code == 0 and second.code == 0
    assert "roster version 1 from cache" in second.stderr, second.stderr
    assert _by_user(first).keys() == _by_user(second).keys()


def test_the_server_source_lists_sessions_and_says_so(fleet, lab_env):
    rows = _by_user(xiot("presence", "snapshot", "--source", "server", "-o", "ndjson",
                         env=lab_env))
    assert set(CALM) <= set(rows)
    assert all(row["source"] == "server" for row in rows.values())
    assert rows["dev0001"]["resources"] == ["sim"]
    assert not set(OFFLINE) & set(rows)
    both = _by_user(xiot("presence", "snapshot", "--source", "both", "-o", "ndjson",
                         env=lab_env))
    assert len(both) == 50 and both["dev0001"]["source"] == "presence"


def test_last_activity_of_a_device_that_went_offline(fleet, lab_env, lab_accounts):
    account = lab_accounts["dev0049"]

    async def visit() -> None:
        settings = lab_settings(LAB).with_jid(f"{account.jid}/visit")
        async with Session(settings, password=account.password, send_presence=True):
            await asyncio.sleep(0.3)

    asyncio.run(visit())
    time.sleep(1.5)  # Prosody counts last activity in whole seconds
    rows = _by_user(xiot("presence", "snapshot", "-o", "ndjson", env=lab_env))
    assert rows["dev0049"]["state"] == "unavailable"
    assert rows["dev0049"]["last_seen"] is not None
    assert rows["dev0050"]["last_seen"] is None  # never seen since the server started
    off = _by_user(xiot("presence", "snapshot", "--no-last", "-o", "ndjson", env=lab_env))
    assert off["dev0049"]["last_seen"] is None


def test_set_holds_our_presence_for_subscribers(fleet, lab_env, lab_accounts):
    import subprocess

    from tests.helpers import xiot_command

    holder = subprocess.Popen([xiot_command(), "presence", "set", "away", "--status",
                               "maintenance", "--hold", "4", "-o", "json"], env=lab_env,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    account = lab_accounts["dev0048"]

    async def look() -> tuple[str | None, str | None]:
        settings = lab_settings(LAB).with_jid(f"{account.jid}/look")
        seen: dict = {}
        async with Session(settings, password=account.password) as session:
            def on(presence):  # type: ignore[no-untyped-def]
                if presence["from"].bare == "admin@xiot.test" and \
                        presence["from"].resource != "":
                    seen[presence["show"]] = presence["status"]
            session.client.add_event_handler("presence", on)
            session.client.send_presence()
            deadline = time.monotonic() + 10
            while "away" not in seen and time.monotonic() < deadline:
                await asyncio.sleep(0.1)
        return ("away" if "away" in seen else None), seen.get("away")

    time.sleep(1.5)
    state, status = asyncio.run(look())
    out, err = holder.communicate(timeout=20)
    assert holder.returncode == 0, err
    assert (state, status) == ("away", "maintenance")
    assert '"state": "away"' in out and "holding the connection for 4s" in err
