"""``xiot provision accounts`` on a real server: both methods, idempotence, resuming."""

from __future__ import annotations

import signal
from pathlib import Path

from tests.helpers import xiot
from tests.integration.presence.conftest import Stream
from tests.integration.provision.conftest import csv_of


def _statuses(result) -> dict[str, str]:  # type: ignore[no-untyped-def]
    return {r["jid"]: r["status"] for r in result.ndjson()}


def test_admin_lifecycle_is_idempotent(prov_env, tmp_path):
    jids = [f"life{i}@xiot.test" for i in range(1, 6)]
    text = csv_of(jids)
    created = xiot("provision", "accounts", "create", "-", env=prov_env, stdin=text)
    assert created.code == 0, created.stderr
    assert set(_statuses(created).values()) == {"created"}
    assert {r["method"] for r in created.ndjson()} == {"admin"}
    assert "5 created (via XEP-0133 admin commands); passwords in xiot-accounts.csv" \
        in created.stderr
    stored = Path("xiot-accounts.csv")
    assert stored.stat().st_mode & 0o777 == 0o600
    lines = stored.read_text().splitlines()
    assert lines[0] == "jid,password" and len(lines) == 6
    # passwords are in the file, never in the output or on stderr
    for line in lines[1:]:
        password = line.split(",", 1)[1]
        assert password not in created.stdout and password not in created.stderr
    again = xiot("provision", "accounts", "create", "-", env=prov_env, stdin=text)
    assert again.code == 0 and set(_statuses(again).values()) == {"unchanged"}
    assert "5 unchanged" in again.stderr
    assert stored.read_text().splitlines() == lines  # nothing new recorded
    # the recorded passwords work: in-band, logging in as each account
    listed = xiot("provision", "accounts", "list", "-", "--method", "register",
                  env=prov_env, stdin=text)
    assert set(_statuses(listed).values()) == {"exists"}, listed.stdout
    deleted = xiot("provision", "accounts", "delete", "-", env=prov_env, stdin=text)
    assert set(_statuses(deleted).values()) == {"deleted"}
    assert stored.read_text().splitlines() == ["jid,password"]
    gone = xiot("provision", "accounts", "list", "-", env=prov_env, stdin=text)
    assert set(_statuses(gone).values()) == {"missing"}
    twice = xiot("provision", "accounts", "delete", "-", env=prov_env, stdin=text)
    assert set(_statuses(twice).values()) == {"unchanged"}


def test_in_band_registration_when_asked_or_not_admin(prov_env):
    jids = ["ibr1@xiot.test", "ibr2@xiot.test"]
    text = csv_of(jids)
    created = xiot("provision", "accounts", "create", "-", "--method", "register",
                   env=prov_env, stdin=text)
    assert created.code == 0, created.stderr
    assert {(r["status"], r["method"]) for r in created.ndjson()} == {("created", "register")}
    assert "via XEP-0077 in-band registration" in created.stderr
    # as a plain account (no admin commands) the method is discovered: registration
    from xiot.provision.store import AccountsFile

    password = AccountsFile(Path("xiot-accounts.csv")).get("ibr1@xiot.test")
    plain = dict(prov_env, XIOT_JID="ibr1@xiot.test", XIOT_PASSWORD=password)
    more = xiot("provision", "accounts", "create", "-", env=plain,
                stdin=csv_of(["ibr3@xiot.test", "ibr1@xiot.test"]))
    assert more.code == 0, more.stderr
    assert {r["jid"]: (r["status"], r["method"]) for r in more.ndjson()} == {
        "ibr3@xiot.test": ("created", "register"), "ibr1@xiot.test": ("unchanged", "register")}
    changed = xiot("provision", "accounts", "passwd", "-", "--method", "register",
                   env=prov_env, stdin=csv_of(["ibr2@xiot.test"]))
    assert _statuses(changed) == {"ibr2@xiot.test": "updated"}, changed.stdout
    works = xiot("provision", "accounts", "list", "-", "--method", "register", env=prov_env,
                 stdin=csv_of(["ibr2@xiot.test"]))
    assert _statuses(works) == {"ibr2@xiot.test": "exists"}
    gone = xiot("provision", "accounts", "delete", "-", "--method", "register", env=prov_env,
                stdin=csv_of(["ibr1@xiot.test", "ibr2@xiot.test", "ibr3@xiot.test"]))
    assert set(_statuses(gone).values()) == {"deleted"}, gone.stdout


def test_show_passwords_prints_them_once_and_writes_no_file(prov_env):
    text = 'jid,password\nshow1@xiot.test,\nshow2@xiot.test,given-password\n'
    result = xiot("provision", "accounts", "create", "-", "--show-passwords", env=prov_env,
                  stdin=text)
    rows = {r["jid"]: r for r in result.ndjson()}
    assert len(rows["show1@xiot.test"]["password"]) >= 20
    assert rows["show2@xiot.test"]["password"] is None  # the caller knows it already
    assert not Path("xiot-accounts.csv").exists()
    xiot("provision", "accounts", "delete", "-", env=prov_env,
         stdin=csv_of(["show1@xiot.test", "show2@xiot.test"]))


def test_an_interrupted_create_resumes_without_losing_a_password(prov_env):
    jids = [f"resume{i:03d}@xiot.test" for i in range(1, 151)]
    text = csv_of(jids)
    Path("in.csv").write_text(text)
    run = Stream(["provision", "accounts", "create", "in.csv", "-k", "1", "-o", "ndjson"],
                 prov_env)
    run.wait_for(lambda rs: len(rs) >= 20, what="20 accounts created")
    code, _ = run.finish(signal.SIGINT)
    assert code == 130
    done_before = {r["jid"] for r in run.records if r["status"] == "created"}
    assert 20 <= len(done_before) < 150
    resumed = xiot("provision", "accounts", "create", "in.csv", env=prov_env, timeout=300)
    assert resumed.code == 0, resumed.stderr
    statuses = _statuses(resumed)
    assert {j for j, s in statuses.items() if s == "unchanged"} >= done_before
    assert set(statuses.values()) <= {"created", "unchanged"}
    listed = xiot("provision", "accounts", "list", "in.csv", "--method", "register", "-k",
                  "20", env=prov_env, timeout=300)
    assert set(_statuses(listed).values()) == {"exists"}  # every recorded password works
    xiot("provision", "accounts", "delete", "in.csv", env=prov_env, timeout=300)
