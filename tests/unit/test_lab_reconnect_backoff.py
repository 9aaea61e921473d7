"""A simulated device reconnects with a bounded, growing, jittered backoff and says the wait
it really uses."""

from __future__ import annotations

import asyncio
import itertools
import random

import pytest

from xiot.errors import ConnectError
from xiot.sim import fleet
from xiot.sim.fleet import (
    RECONNECT_FIRST,
    RECONNECT_MAX,
    FleetEvent,
    FleetOptions,
    SimAccount,
    SimulatedDevice,
    reconnect_delays,
)
from xiot.sim.kinds import make_device


def _schedule(seed: object, count: int = 12) -> list[float]:
    return list(itertools.islice(reconnect_delays(random.Random(seed)), count))


def test_backoff_is_bounded_and_grows_to_the_cap():
    waits = _schedule(1, 40)
    step = RECONNECT_FIRST
    for wait in waits:
        assert step / 2 <= wait <= step <= RECONNECT_MAX
        step = min(step * 2, RECONNECT_MAX)
    assert max(waits) <= RECONNECT_MAX
    assert waits[-1] >= RECONNECT_MAX / 2  # it reached the cap and stays there
    assert waits[0] < 1.0 <= RECONNECT_MAX / 2 <= waits[6]


def test_backoff_is_jittered():
    """Devices that lost the server together do not come back in lock-step."""
    schedules = [_schedule(f"device-{n}") for n in range(20)]
    for position in range(12):
        assert len({round(s[position], 6) for s in schedules}) > 10
    assert _schedule("same") == _schedule("same")  # reproducible for one seed


class _NeverConnects(SimulatedDevice):
    """A device whose server stays away for ``failures`` attempts, then comes back."""

    def __init__(self, failures: int) -> None:
        self.events: list[FleetEvent] = []
        account = SimAccount("dev0001@xiot.test", "secret")
        super().__init__(account, make_device("thermometer", "dev0001", 7, 1),
                         FleetOptions(seed=7), self.events.append)
        self.failures = failures
        self._connection = (object(), object())  # type: ignore[assignment]

    async def start(self, *_: object) -> None:
        if self.failures:
            self.failures -= 1
            raise ConnectError("connection refused")
        self.online = True


def test_reconnect_says_the_wait_it_really_sleeps(monkeypatch, caplog):
    slept: list[float] = []
    real_sleep = asyncio.sleep

    async def sleep(seconds: float) -> None:
        slept.append(seconds)
        await real_sleep(0)

    monkeypatch.setattr(fleet.asyncio, "sleep", sleep)
    device = _NeverConnects(failures=8)
    caplog.set_level("INFO", logger="xiot")
    asyncio.run(device._reconnect())

    assert device.online and len(slept) == 9
    failed = [e.detail for e in device.events if e.event == "login-failed"]
    assert len(failed) == 8
    for detail, wait in zip(failed, slept[1:], strict=True):
        assert detail.endswith(f"retrying in {wait:.1f}s"), (detail, wait)
    logged = [r.getMessage() for r in caplog.records if "dev0001" in r.getMessage()]
    assert len(logged) == 9
    for line, wait in zip(logged, slept, strict=True):
        assert f"in {wait:.1f} s" in line
    assert max(slept) <= RECONNECT_MAX
    assert slept[-1] > slept[0]


@pytest.mark.parametrize("first", [0.5, 2.0])
def test_first_wait_follows_the_first_step(first):
    waits = list(itertools.islice(reconnect_delays(random.Random(3), first=first), 3))
    assert first / 2 <= waits[0] <= first
