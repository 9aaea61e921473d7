"""A readout ends even when the device never does: a deadline for the whole readout, a field cap.

The device here is xiot's own ``SensorServer`` with a provider that never stops, run on a
harness peer; ``exchange`` hands stanzas between the two peers for a bounded number of rounds.
Both tests check that the readout ended *while the device was still sending*, which is what
a restarting inactivity timer or an unbounded buffer would never do.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, datetime

from tests.unit.iot.harness import Peer, q
from xiot.iot.model import Field, Reading, ReadoutRequest
from xiot.iot.readout import read_devices
from xiot.iot.sensordata import client as sd_client
from xiot.iot.sensordata import device as sd_device
from xiot.xmpp.jid import parse_jid

SD = "urn:xmpp:iot:sensordata"
DEVICE = "chatty@example.org/sim"
MOMENTARY = ReadoutRequest(categories={"momentary"})


def endless(per_message: int, pause: float):  # type: ignore[no-untyped-def]
    """A provider that sends ``per_message`` fields per message, forever, never ``done``."""

    async def batches(_request: ReadoutRequest) -> AsyncIterator[list[Field]]:
        number = 0
        while True:
            now = datetime.now(UTC).replace(microsecond=0)
            batch = []
            for _ in range(per_message):
                number += 1
                batch.append(Field(f"Sample {number}", "numeric", float(number),
                                   timestamp=now, unit="", categories={"momentary"}))
            yield batch
            await asyncio.sleep(pause)

    return batches


async def exchange(client: Peer, device: Peer, task: asyncio.Future, rounds: int) -> int:
    """Move stanzas both ways until ``task`` is done; returns the rounds it took."""
    for number in range(rounds):
        if task.done():
            return number
        await asyncio.sleep(0.005)
        for xml in client.take():
            device.deliver(xml)
        for xml in device.take():
            client.deliver(xml)
    return rounds


def fields_messages(stanzas: list) -> int:  # type: ignore[type-arg]
    return sum(1 for s in stanzas if s.find(q(SD, "fields")) is not None)


async def read_one(session, timeout: float, **options) -> Reading:  # type: ignore[no-untyped-def]
    return await sd_client.read(session, DEVICE, MOMENTARY, timeout, **options)


async def read_fleet(session, timeout: float, **options) -> Reading:  # type: ignore[no-untyped-def]
    """The same device through ``read_devices``, the function ``xiot readout`` runs."""
    (reading,) = [r async for r in read_devices(session, [parse_jid(DEVICE)], MOMENTARY,
                                                timeout, **options)]
    return reading


def run_chatty(per_message: int, pause: float, timeout: float, reader=read_one,  # type: ignore[no-untyped-def]
               **read_options):
    async def scenario() -> tuple[Reading, int, int]:
        client, device = Peer("operator@example.org/ops"), Peer(DEVICE)
        sd_device.SensorServer(device.xmpp, endless(per_message, pause), filter_fields=False)
        task = asyncio.ensure_future(reader(client.session, timeout, **read_options))
        rounds = await exchange(client, device, task, rounds=3000)
        assert task.done(), "the readout was still open while the device kept sending"
        reading = task.result()
        # the client withdrew the request; once the device has heard it, it goes quiet
        for _ in range(10):
            await asyncio.sleep(0.02)
            for xml in client.take():
                device.deliver(xml)
        quiet_after = fields_messages(device.take())
        await asyncio.sleep(0.1)
        return reading, rounds, quiet_after + fields_messages(device.take())

    return asyncio.run(scenario())


def test_a_device_that_never_says_done_is_cut_off_by_the_timeout() -> None:
    reading, rounds, _ = run_chatty(per_message=2, pause=0.01, timeout=0.3)
    assert rounds < 3000
    assert reading.status == "partial"
    values = [f.value for f in reading.fields]
    assert len(values) >= 2 and values == [float(n) for n in range(1, len(values) + 1)]
    assert "timed out" in reading.errors[-1] and "never said it was done" in reading.errors[-1]


def test_the_device_is_asked_to_stop_and_does() -> None:
    _, _, later = run_chatty(per_message=2, pause=0.01, timeout=0.3)
    assert later <= 1  # at most the message that was already on its way


def test_a_device_past_the_field_cap_ends_the_readout_with_the_fields_it_sent() -> None:
    reading, rounds, _ = run_chatty(per_message=7, pause=0.005, timeout=60, max_fields=20)
    assert rounds < 3000
    assert reading.status == "partial"
    assert [f.value for f in reading.fields] == [float(n) for n in range(1, 21)]
    assert "limit of 20 fields" in reading.errors[-1]


def test_the_default_cap_is_ten_thousand_fields() -> None:
    reading, _, _ = run_chatty(per_message=1000, pause=0.0, timeout=60)
    assert sd_client.MAX_FIELDS == 10_000
    assert reading.status == "partial" and len(reading.fields) == 10_000
    assert "limit of 10000 fields" in reading.errors[-1]


def test_read_devices_passes_the_bounds_on() -> None:
    reading, _, _ = run_chatty(per_message=3, pause=0.005, timeout=60, reader=read_fleet,
                               max_fields=10)
    assert reading.status == "partial" and len(reading.fields) == 10
    reading, _, _ = run_chatty(per_message=1, pause=0.01, timeout=0.3, reader=read_fleet)
    assert reading.status == "partial" and "never said it was done" in reading.errors[-1]
