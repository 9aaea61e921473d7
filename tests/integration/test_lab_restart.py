"""A lab survives its server's crash and a Ctrl-C during 'lab up' leaves nothing running.

These labs are separate from the session's test lab: they are killed and interrupted.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import subprocess
import threading
import time
from pathlib import Path

from tests.fleet import FleetThread
from tests.helpers import lab_settings, xiot, xiot_command
from xiot.lab import manager, prosody
from xiot.sim.fleet import Fleet, FleetOptions, SimAccount
from xiot.xmpp.session import Session


def _kill_hard(lab: manager.Lab) -> None:
    """SIGKILL the lab's server, as a crash or the OOM killer would, and wait until it is gone."""
    os.kill(lab.pid, signal.SIGKILL)
    deadline = time.monotonic() + 10
    while lab.running() and time.monotonic() < deadline:
        time.sleep(0.02)
    with contextlib.suppress(ChildProcessError):  # our child: collect it, or it stays a zombie
        os.waitpid(lab.pid, 0)
    assert not lab.running()


async def _admin_pings(settings) -> str:  # type: ignore[no-untyped-def]
    from xiot.xmpp.ping import ping_once

    async with Session(settings) as session:
        result = await ping_once(session, "xiot.test", 1, 10)
        return f"{session.client.boundjid.bare} {result.status}"


def test_restart_after_a_crash_keeps_ports_ca_and_accounts():
    lab, _ = manager.up(name="crashy", devices=3)
    try:
        settings = lab_settings("crashy")  # the profile as it was before the crash
        ca = lab.ca_file.read_bytes()
        passwords = {a.jid: a.password for a in manager.accounts(lab)}
        devices = [SimAccount(jid, pw) for jid, pw in passwords.items() if "admin" not in jid]
        events: list = []
        seen = threading.Event()

        def on_event(event) -> None:  # type: ignore[no-untyped-def]
            events.append(event)
            if event.event == "online" and any(e.event == "offline" for e in events):
                seen.set()

        runner = FleetThread(Fleet(settings, devices[:1], FleetOptions(seed=1), on_event))
        runner.start()
        try:
            _kill_hard(lab)
            again, started = manager.up(name="crashy")
            assert started and again.restarts == 1 and again.pid != lab.pid
            assert again.ports == lab.ports
            assert again.ca_file.read_bytes() == ca
            assert {a.jid: a.password for a in manager.accounts(again)} == passwords
            assert asyncio.run(_admin_pings(settings)) == "admin@xiot.test ok"
            assert seen.wait(60), [e.to_record() for e in events]  # the simulator came back
        finally:
            runner.stop()
        kinds = [e.event for e in events if e.jid.startswith(devices[0].jid)]
        assert kinds[:1] == ["online"] and "offline" in kinds and kinds[-1] in ("online",
                                                                                "stopped")
    finally:
        manager.down("crashy")


def test_other_devices_after_a_crash_build_a_new_lab():
    lab, _ = manager.up(name="crashy2", devices=1)
    try:
        ca = lab.ca_file.read_bytes()
        _kill_hard(lab)
        again, started = manager.up(name="crashy2", devices=2)
        assert started and again.restarts == 0 and again.devices == 2
        assert again.ca_file.read_bytes() != ca
    finally:
        manager.down("crashy2")


def _lab_processes(name: str) -> list[int]:
    directory = manager.lab_dir(name)
    return (prosody.processes_using(directory / "prosody.cfg.lua")
            + prosody.processes_using(directory / "dns.json"))


def test_ctrl_c_while_lab_up_starts_leaves_no_server_running():
    name = "interrupted"
    config = manager.lab_dir(name) / "prosody.cfg.lua"
    proc = subprocess.Popen([xiot_command(), "lab", "up", "--name", name, "--devices", "2",
                             "--dns"], stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, env=dict(os.environ))
    try:
        deadline = time.monotonic() + 60
        while not prosody.processes_using(config):  # the lab's Prosody exists: interrupt now
            assert proc.poll() is None, proc.communicate()
            assert time.monotonic() < deadline, "Prosody never started"
            time.sleep(0.005)
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == 130, err
    assert _lab_processes(name) == []
    xiot("lab", "down", "--name", name)
    assert not Path(manager.lab_dir(name)).exists()


def test_lab_down_stops_a_server_that_no_state_records():
    """A lab directory without lab.json (an interrupted start of an older xiot)."""
    lab, _ = manager.up(name="stateless", devices=1)
    try:
        (Path(lab.directory) / "lab.json").unlink()
        assert prosody.pid_is_ours(lab.pid, lab.config_file)
        assert manager.down("stateless") is None
        assert _lab_processes("stateless") == []
    finally:
        manager.down("stateless")


def test_rebuilding_a_crashed_lab_stops_its_surviving_dns_server():
    lab, _ = manager.up(name="crashy3", devices=1, dns=True)
    try:
        _kill_hard(lab)
        dns_marker = Path(lab.directory) / "dns.json"
        assert prosody.pid_is_ours(lab.dns_pid, dns_marker)
        again, started = manager.up(name="crashy3", devices=2, dns=True)
        assert started and again.restarts == 0 and again.dns_pid != lab.dns_pid
        assert not prosody.pid_is_ours(lab.dns_pid, dns_marker)
    finally:
        manager.down("crashy3")


def test_restart_brings_back_a_dead_dns_server_on_its_port():
    lab, _ = manager.up(name="crashy4", devices=1, dns=True)
    try:
        _kill_hard(lab)
        os.kill(lab.dns_pid, signal.SIGTERM)
        with contextlib.suppress(ChildProcessError):
            os.waitpid(lab.dns_pid, 0)
        again, started = manager.up(name="crashy4")
        assert started and again.restarts == 1
        assert again.dns_pid != lab.dns_pid and again.dns_port == lab.dns_port
        assert again.ports == lab.ports
    finally:
        manager.down("crashy4")
