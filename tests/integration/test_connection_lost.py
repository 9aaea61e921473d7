"""A connection lost after set-up is noticed at once, said once, and mapped to exit 4.

Each test runs its own small lab, because it kills that lab's server.
"""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import threading
import time

import pytest

from tests.helpers import lab_settings, xiot_command
from xiot.lab import manager
from xiot.xmpp.session import Session

LAB = "lostlab"


@pytest.fixture()
def private_lab():
    lab, _ = manager.up(name=LAB, devices=3)
    yield lab
    manager.down(LAB)


def _silent_device(lab, ready: threading.Event, stop: threading.Event) -> None:
    """dev0001/mute: logged in, subscribed, and never answering a readout."""
    account = next(a for a in manager.accounts(lab) if a.user == "dev0001")

    from slixmpp.xmlstream.handler import Callback
    from slixmpp.xmlstream.matcher import StanzaPath

    from xiot.iot.sensordata.stanzas import register_stanzas

    register_stanzas()

    async def main() -> None:
        settings = lab_settings(LAB).with_jid(f"{account.jid}/mute")
        try:
            async with Session(settings, password=account.password,
                               send_presence=True) as device:
                device.client.register_handler(Callback("swallow", StanzaPath("iq/iot_req"),
                                                        lambda iq: None))
                ready.set()
                while not stop.is_set():
                    await asyncio.sleep(0.1)
        except Exception:  # the server is killed under it: expected
            ready.set()

    asyncio.run(main())


def test_a_readout_whose_server_dies_exits_4_at_once(private_lab):
    ready, stop = threading.Event(), threading.Event()
    device = threading.Thread(target=_silent_device, args=(private_lab, ready, stop),
                              daemon=True)
    device.start()
    assert ready.wait(20)
    env = dict(os.environ, XIOT_PROFILE=LAB)
    proc = subprocess.Popen([xiot_command(), "readout", "dev0001@xiot.test/mute",
                             "--timeout", "60"], env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    try:
        time.sleep(1.5)  # the readout is sent and waiting for the silent device
        os.kill(private_lab.pid, signal.SIGKILL)
        _, err = proc.communicate(timeout=20)  # far less than --timeout 60
    finally:
        if proc.poll() is None:
            proc.kill()
        stop.set()
        device.join(10)
    assert proc.returncode == 4, err
    assert "Traceback" not in err
    assert "connection" in err and "lost" in err


def test_a_watch_says_the_connection_is_lost_and_reconnects(private_lab):
    env = dict(os.environ, XIOT_PROFILE=LAB)
    proc = subprocess.Popen([xiot_command(), "readout", "dev0002@xiot.test/none", "--watch",
                             "0.5", "--rounds", "8", "--timeout", "5"], env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        time.sleep(1.5)
        os.kill(private_lab.pid, signal.SIGKILL)
        time.sleep(0.5)
        restarted, started = manager.up(name=LAB, devices=3)  # same ports, CA and accounts
        assert started and restarted.ports == private_lab.ports
        out, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert "Traceback" not in err
    assert "lost; reconnecting in" in err and "reconnected" in err, err
    rows = [line for line in out.splitlines() if line.strip()]
    assert len(rows) >= 5  # rounds went on after the restart
    assert proc.returncode == 1  # the device never answered (and one round lost its link)
