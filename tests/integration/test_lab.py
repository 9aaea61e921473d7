"""The lab itself: accounts, subscriptions, profile, idempotent up, clean down."""

from __future__ import annotations

import asyncio
import os
import stat
from pathlib import Path

from tests.conftest import LAB_DEVICES, LAB_NAME
from tests.helpers import lab_settings, xiot
from xiot.lab import manager, prosody
from xiot.xmpp.session import Session


def test_admin_roster_holds_every_device_with_mutual_subscription(lab):
    async def roster():
        async with Session(lab_settings(LAB_NAME)) as s:
            await s.client.get_roster(timeout=10)
            return {jid: s.client.client_roster[jid]["subscription"]
                    for jid in s.client.client_roster if jid != s.client.boundjid.bare}

    items = asyncio.run(roster())
    assert len(items) == LAB_DEVICES
    assert set(items.values()) == {"both"}


def test_profile_and_secrets_are_private(lab):
    directory = Path(lab.directory)
    for path in (lab.profile_file, lab.accounts_file, directory / "ca.key",
                 directory / "certs" / "server.key", directory):
        mode = stat.S_IMODE(os.stat(path).st_mode)
        assert mode & 0o077 == 0, f"{path} is readable by others ({oct(mode)})"
    assert stat.S_IMODE(os.stat(directory / "ca.key").st_mode) == 0o600


def test_server_runs_on_loopback_as_our_child_config(lab):
    assert lab.running()
    assert prosody.pid_is_ours(lab.pid, lab.config_file)
    assert lab.prosody_version.startswith("0.")
    assert not prosody.pid_is_ours(os.getpid(), lab.config_file)


def test_up_twice_reuses_and_second_lab_does_not_collide(lab):
    again, started = manager.up(name=LAB_NAME, devices=LAB_DEVICES)
    assert not started and again.pid == lab.pid
    other, started = manager.up(name="second", devices=2)
    try:
        assert started
        assert set(other.ports.values()).isdisjoint(lab.ports.values())
        assert other.running() and lab.running()
    finally:
        stopped = manager.down("second")
    assert stopped is not None and not stopped.running()
    assert not os.path.exists(stopped.directory)
    assert manager.load("second") is None
    assert lab.running()


def test_lab_dns_serves_the_domain_and_stops_with_the_lab(lab):
    import asyncio

    from xiot.xmpp.dns import discover

    dns_lab, _ = manager.up(name="withdns", devices=1, dns=True)
    try:
        assert dns_lab.dns_port and prosody.pid_is_ours(
            dns_lab.dns_pid, Path(dns_lab.directory) / "dns.json")
        report = asyncio.run(discover("xiot.test", resolver=("127.0.0.1", dns_lab.dns_port),
                                      timeout=5))
        client = {(e.port, e.direct_tls) for e in report.endpoints_for("client")}
        assert client == {(dns_lab.ports["c2s"], False), (dns_lab.ports["c2s_direct"], True)}
        assert {e.address for e in report.endpoints} == {"127.0.0.1"}
    finally:
        stopped = manager.down("withdns")
    assert not prosody.pid_is_ours(stopped.dns_pid, Path(stopped.directory) / "dns.json")


def test_lab_status_shows_every_port(lab):
    table = xiot("lab", "status", "--name", LAB_NAME, "-o", "csv")
    assert table.code == 0, table.stderr
    header = table.stdout.splitlines()[0].split(",")
    assert {f"port_{kind}" for kind in lab.ports} <= set(header)
    assert "port_s2s" in header


def test_lab_up_warns_only_about_options_the_user_gave(lab):
    plain = xiot("lab", "up", "--name", LAB_NAME)
    assert plain.code == 0 and "already running" in plain.stderr
    assert "warning" not in plain.stderr
    other = xiot("lab", "up", "--name", LAB_NAME, "--devices", str(LAB_DEVICES + 1))
    assert other.code == 0
    assert f"--devices {LAB_DEVICES + 1} not applied" in other.stderr
    dns = xiot("lab", "up", "--name", LAB_NAME, "--dns")
    assert dns.code == 0 and "--dns not applied" in dns.stderr
    assert manager.load(LAB_NAME).pid == lab.pid
