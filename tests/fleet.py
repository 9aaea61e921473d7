"""Fixture module: a simulated fleet on the test lab, on its own loop in a background thread.

Devices dev0001..dev0030 run with kinds in the order thermometer, meter, relay, dimmer,
concentrator (dev0001 thermometer, dev0002 meter, dev0003 relay, dev0004 dimmer,
dev0005 concentrator, dev0006 thermometer, ...).  Accounts above dev0030 stay free for tests
that need an offline device or a device of their own.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator

import pytest

from tests.helpers import lab_settings
from xiot.sim.fleet import Fleet, FleetOptions, SimAccount

LAB_NAME = "testlab"  # the session lab of tests/conftest.py

FLEET_SIZE = 30


class FleetThread:
    """Runs a Fleet until stopped; ``call`` runs a function on the fleet's loop."""

    def __init__(self, fleet: Fleet) -> None:
        self.fleet = fleet
        self.loop = asyncio.new_event_loop()
        self.ready = threading.Event()
        self.error: BaseException | None = None
        self.thread = threading.Thread(target=self._main, daemon=True)

    def _main(self) -> None:
        asyncio.set_event_loop(self.loop)
        try:
            self.loop.run_until_complete(self.fleet.start())
        except BaseException as exc:  # reported to the test session below
            self.error = exc
            self.ready.set()
            return
        self.ready.set()
        self.loop.run_forever()
        self.loop.run_until_complete(self.fleet.stop())
        self.loop.close()

    def start(self) -> None:
        self.thread.start()
        self.ready.wait(120)
        if self.error is not None:
            raise self.error

    def call(self, fn, *args):  # type: ignore[no-untyped-def]
        """Run ``fn(*args)`` on the fleet's loop and return its result."""
        done: dict = {}
        event = threading.Event()

        def run() -> None:
            try:
                done["value"] = fn(*args)
            finally:
                event.set()

        self.loop.call_soon_threadsafe(run)
        event.wait(10)
        return done.get("value")

    def stop(self) -> None:
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(60)


@pytest.fixture(scope="session")
def fleet(lab, lab_accounts) -> Iterator[FleetThread]:
    accounts = [SimAccount(a.jid, a.password) for name, a in sorted(lab_accounts.items())
                if a.role == "device"][:FLEET_SIZE]
    runner = FleetThread(Fleet(lab_settings(LAB_NAME), accounts, FleetOptions(seed=42)))
    runner.start()
    assert not runner.fleet.failed, runner.fleet.failed
    yield runner
    runner.stop()


