"""The ejabberd lab: our own Erlang node on loopback, its accounts, rosters, restart and stop."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import stat
import time
from pathlib import Path

from tests.fleet import FleetThread
from tests.helpers import lab_settings, xiot
from tests.integration.pubsub import labs
from tests.integration.pubsub.labs import EJABBERD_DEVICES, EJABBERD_LAB
from xiot.lab import ejabberd, manager, prosody
from xiot.sim.fleet import Fleet, FleetOptions, SimAccount
from xiot.xmpp.session import Session

ejabberd_lab = labs.ejabberd_lab  # the session fixture, shared with the PubSub tests


def _env() -> dict[str, str]:
    return dict(os.environ, XIOT_PROFILE=EJABBERD_LAB)


def _group(leader: int) -> list[tuple[int, str]]:
    """(pid, name) of every live process in the node's process group."""
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            with contextlib.suppress(OSError):
                if os.getpgid(int(entry.name)) == leader:
                    found.append((int(entry.name), (entry / "comm").read_text().strip()))
    return found


def test_erlang_strings_round_trip_any_text():
    assert ejabberd.erlang_string('a"b\\c') == '"a\\"b\\\\c"'
    assert ejabberd.erlang_string("é\n") == '"\\x{e9}\\x{a}"'


def test_node_is_ours_on_loopback_without_epmd(ejabberd_lab):
    lab = ejabberd_lab
    assert lab.server == "ejabberd" and lab.running()
    assert lab.server_version.startswith("23.")
    assert prosody.pid_is_ours(lab.pid, lab.config_file)
    cmdline = Path(f"/proc/{lab.pid}/cmdline").read_bytes().split(b"\0")
    assert b"-start_epmd" in cmdline and cmdline[cmdline.index(b"-start_epmd") + 1] == b"false"
    assert not any(name == "epmd" for _, name in _group(lab.pid))
    config = lab.config_file.read_text()
    assert "/etc/ejabberd" not in config and "auto: false" in config
    assert set(lab.ports) == set(ejabberd.PORT_KINDS)


def test_secrets_are_private_and_the_provisioning_file_is_gone(ejabberd_lab):
    directory = Path(ejabberd_lab.directory)
    cookie = directory / "erlang" / ".erlang.cookie"
    assert stat.S_IMODE(os.stat(cookie).st_mode) == 0o400
    for path in (directory, ejabberd_lab.accounts_file, directory / "certs" / "server.key"):
        assert stat.S_IMODE(os.stat(path).st_mode) & 0o077 == 0
    assert not (directory / "provision.eterm").exists()


def test_admin_roster_holds_every_device_with_mutual_subscription(ejabberd_lab):
    async def rosters():
        async with Session(lab_settings(EJABBERD_LAB)) as s:
            await s.client.get_roster(timeout=10)
            admin = {jid: s.client.client_roster[jid]["subscription"]
                     for jid in s.client.client_roster if jid != s.client.boundjid.bare}
        device = next(a for a in manager.accounts(ejabberd_lab) if a.user == "dev0003")
        settings = lab_settings(EJABBERD_LAB).with_jid(device.jid)
        async with Session(settings, password=device.password) as s:
            await s.client.get_roster(timeout=10)
            mine = {jid: s.client.client_roster[jid]["subscription"]
                    for jid in s.client.client_roster if jid != s.client.boundjid.bare}
        return admin, mine

    admin, device = asyncio.run(rosters())
    assert len(admin) == EJABBERD_DEVICES and set(admin.values()) == {"both"}
    assert device == {ejabberd_lab.admin_jid: "both"}


def test_ping_disco_and_a_simulated_readout(ejabberd_lab):
    env = _env()
    ping = xiot("ping", "-c", "1", "-o", "ndjson", env=env)
    assert ping.code == 0, ping.stderr
    assert ping.ndjson()[0]["status"] == "ok"
    disco = xiot("disco", f"pubsub.{ejabberd_lab.domain}", "-o", "ndjson", env=env)
    assert disco.code == 0, disco.stderr
    features = {r["var"] for r in disco.ndjson() if r["kind"] == "feature"}
    assert "http://jabber.org/protocol/pubsub#collections" in features

    accounts = {a.user: a for a in manager.accounts(ejabberd_lab)}
    device = accounts["dev0001"]
    runner = FleetThread(Fleet(lab_settings(EJABBERD_LAB), [SimAccount(device.jid,
                               device.password)], FleetOptions(seed=3)))
    runner.start()
    try:
        assert not runner.fleet.failed, runner.fleet.failed
        readout = xiot("readout", device.jid, "-o", "ndjson", env=env)
    finally:
        runner.stop()
    assert readout.code == 0, readout.stderr
    rows = readout.ndjson()
    assert rows and {r["status"] for r in rows} == {"ok"}
    assert rows[0]["jid"] == device.jid + "/sim"


def test_status_names_the_server_and_up_warns_about_another(ejabberd_lab):
    status = xiot("lab", "status", "--name", EJABBERD_LAB, "-o", "ndjson")
    assert status.code == 0, status.stderr
    record = status.ndjson()[0]
    assert record["server"] == "ejabberd" and record["port_dist"]
    again = xiot("lab", "up", "--name", EJABBERD_LAB, "--server", "prosody")
    assert again.code == 0 and "--server prosody not applied" in again.stderr
    wrong = xiot("lab", "up", "--name", "nolab", "--server", "example.org:5222")
    wrong.assert_clean_error(2)


def test_crash_restart_keeps_ports_and_accounts_and_down_stops_the_group():
    lab, _ = manager.up(name="ejcrash", devices=2, server="ejabberd")
    try:
        assert not (Path(lab.directory) / "provision.eterm").exists()
        os.kill(lab.pid, signal.SIGKILL)
        deadline = time.monotonic() + 10
        while lab.running() and time.monotonic() < deadline:
            time.sleep(0.02)
        with contextlib.suppress(ChildProcessError):
            os.waitpid(lab.pid, 0)
        again, started = manager.up(name="ejcrash")
        assert started and again.restarts == 1 and again.ports == lab.ports
        assert again.server == "ejabberd"

        async def whoami() -> str:
            async with Session(lab_settings("ejcrash")) as s:
                return s.client.boundjid.bare

        assert asyncio.run(whoami()) == again.admin_jid
    finally:
        stopped = manager.down("ejcrash")
    assert stopped is not None and not stopped.running()
    assert _group(stopped.pid) == [] or all(
        Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[-1].split()[0] == "Z"
        for pid, _ in _group(stopped.pid))
    assert not Path(stopped.directory).exists()
