"""A stream that drops while the operator waits for a device raises ConnectionLost (exit 4).

Without ``session.guard`` each of these would wait out its timeout and report a timeout (or
nothing at all); the device never answers here, so only noticing the drop ends the wait.
"""

from __future__ import annotations

import asyncio

import pytest

from tests.unit.iot.harness import Peer, settle
from xiot.iot.concentrator import client as concentrator
from xiot.iot.control import client as control
from xiot.iot.model import ControlParameter
from xiot.iot.sensordata import client as sensordata
from xiot.xmpp.session import ConnectionLost

DEVICE = "device@example.org/sim"


def drop_while_waiting(call) -> BaseException | None:  # type: ignore[no-untyped-def]
    async def scenario() -> BaseException | None:
        operator = Peer("operator@example.org/ops")
        operator.watch_stream()
        task = asyncio.ensure_future(call(operator.session))
        await settle()
        assert operator.take(), "the request was not sent"
        operator.drop()
        try:
            await asyncio.wait_for(task, 5)
        except BaseException as exc:  # the outcome is what the test looks at
            return exc
        return None

    return asyncio.run(scenario())


@pytest.mark.parametrize("call", [
    lambda s: control.set_parameters(s, DEVICE, [ControlParameter("Output", "boolean", True)],
                                     timeout=3),
    lambda s: control.get_form(s, DEVICE, timeout=3),
    lambda s: control.submit_form(s, DEVICE, {"Output": "true"}, timeout=3),
    lambda s: concentrator.get_capabilities(s, DEVICE, timeout=3),
    lambda s: concentrator.get_all_nodes(s, DEVICE, "Sim", timeout=3),
    lambda s: sensordata.cancel(s, DEVICE, 7, timeout=3),
], ids=["set", "get_form", "submit_form", "capabilities", "all_nodes", "cancel"])
def test_a_dropped_stream_ends_the_wait(call) -> None:  # type: ignore[no-untyped-def]
    assert isinstance(drop_while_waiting(call), ConnectionLost)


def test_nothing_is_sent_on_a_stream_known_to_be_lost() -> None:
    async def scenario() -> None:
        operator = Peer("operator@example.org/ops")
        operator.watch_stream()
        operator.drop()
        with pytest.raises(ConnectionLost):
            await control.set_parameters(operator.session, DEVICE,
                                         [ControlParameter("Output", "boolean", True)],
                                         use_message=True)
        assert operator.take() == []

    asyncio.run(scenario())


def test_guard_on_a_lost_stream_closes_the_coroutine_it_was_given() -> None:
    # Left open, Python warns "coroutine ... was never awaited" when the process ends.
    import inspect

    async def never_started() -> None:
        raise AssertionError("ran on a lost stream")

    async def scenario() -> None:
        operator = Peer("operator@example.org/ops")
        operator.watch_stream()
        operator.drop()
        work = never_started()
        with pytest.raises(ConnectionLost):
            await operator.session.guard(work)
        assert inspect.getcoroutinestate(work) == inspect.CORO_CLOSED

    asyncio.run(scenario())
