"""XEP-0325 control and XEP-0326 browsing against simulated devices on the lab server."""

from __future__ import annotations

import asyncio
import time

import pytest

from xiot.errors import CheckFailed, UsageError
from xiot.iot.actions import Assignment, control_form, control_set
from xiot.iot.control.client import submit_form
from xiot.iot.model import ReadoutRequest
from xiot.iot.readout import read_devices
from xiot.xmpp.jid import parse_jid
from xiot.xmpp.session import Session


def run(coro):
    return asyncio.run(coro)


async def _read(session, jid, nodes=()):
    request = ReadoutRequest(categories=frozenset({"momentary"}), nodes=tuple(nodes))
    (reading,) = [r async for r in read_devices(session, [parse_jid(jid)], request, 5)]
    return reading


def set_and_read(settings, jid, assignments, nodes=(), message=False):
    async def scenario():
        async with Session(settings) as session:
            result = await control_set(session, parse_jid(jid),
                                       [Assignment.parse(a) for a in assignments], nodes,
                                       message, 5)
            if message:
                await asyncio.sleep(0.3)  # no acknowledgement to wait for
            return result, await _read(session, jid, nodes)

    return run(scenario())


def test_set_by_iq_changes_what_the_next_readout_shows(fleet, admin_settings):
    device = fleet.fleet.by_jid("dev0003@xiot.test")
    before = device.model.output
    result, reading = set_and_read(admin_settings, "dev0003@xiot.test",
                                   [f"Output={'false' if before else 'true'}"])
    assert result.ok and result.acknowledged
    assert reading.value("Output") is (not before)
    assert device.model.switch_count >= 1


def test_types_come_from_the_control_form(fleet, admin_settings):
    result, reading = set_and_read(admin_settings, "dev0004@xiot.test", ["Level=35", "On=true"])
    assert result.ok
    assert reading.value("Level") == 35 and reading.value("On") is True


def test_set_by_message_is_unacknowledged_but_applied(fleet, admin_settings):
    result, reading = set_and_read(admin_settings, "dev0009@xiot.test",
                                   ["Level:int=15"], message=True)
    assert result.ok and not result.acknowledged
    assert reading.value("Level") == 15


def test_set_through_the_form(fleet, admin_settings):
    async def scenario():
        async with Session(admin_settings) as session:
            result = await submit_form(session, "dev0006@xiot.test/sim",
                                       {"Setpoint": "23.5"}, timeout=5)
            return result, await _read(session, "dev0006@xiot.test/sim")

    result, reading = run(scenario())
    assert result.ok
    assert reading.value("Setpoint") == 23.5


def test_device_refusal_names_the_parameter(fleet, admin_settings):
    result, reading = set_and_read(admin_settings, "dev0001@xiot.test",
                                   ["Setpoint:double=99"])
    assert not result.ok
    assert result.failed_parameters == ("Setpoint",)
    assert reading.value("Setpoint") != 99


def test_form_validation_rejects_out_of_range_before_sending(fleet, admin_settings):
    with pytest.raises(UsageError) as info:
        set_and_read(admin_settings, "dev0001@xiot.test", ["Setpoint=99"])
    assert "Setpoint" in info.value.message


def test_control_form_lists_parameters_with_current_values(fleet, admin_settings):
    async def scenario():
        async with Session(admin_settings) as session:
            return await control_form(session, parse_jid("dev0004@xiot.test"), (), 5)

    form = run(scenario())
    params = {f.var: f for f in form.parameters}
    assert set(params) == {"Level", "On"}
    assert params["Level"].parameter_type == "int"
    assert params["Level"].minimum == "0" and params["Level"].maximum == "100"


def test_control_of_an_offline_device_is_a_failed_target(fleet, admin_settings):
    with pytest.raises(CheckFailed) as info:
        set_and_read(admin_settings, "dev0048@xiot.test", ["Output=true"])
    assert "offline" in info.value.message


def test_concentrator_node_control_and_browsing(fleet, admin_settings):
    from xiot.iot.concentrator.client import get_all_data_sources, get_all_nodes, get_node

    result, reading = set_and_read(admin_settings, "dev0005@xiot.test", ["Output=true"],
                                   nodes=("Relay1",))
    assert result.ok
    assert reading.value("Output", node="Relay1") is True
    concentrator = fleet.fleet.by_jid("dev0005@xiot.test").model
    assert concentrator.children["Relay1"].output is True
    assert concentrator.children["Relay2"].output is False

    async def browse():
        async with Session(admin_settings) as session:
            gateway = "dev0005@xiot.test/sim"
            sources = await get_all_data_sources(session, gateway, timeout=5)
            nodes = await get_all_nodes(session, gateway, "Sim", timeout=5)
            one = await get_node(session, gateway, "Sensor2", parameters=True, timeout=5)
            return sources, nodes, one

    sources, nodes, one = run(browse())
    assert [s.source_id for s in sources] == ["Sim"]
    assert {n.node.node_id for n in nodes} == {"Sensor1", "Sensor2", "Sensor3", "Relay1",
                                               "Relay2"}
    assert one.node_type == "thermometer" and one.parameters


def test_control_events_reach_observers(fleet, admin_settings):
    seen = []
    fleet.call(lambda: setattr(fleet.fleet, "on_event", seen.append))
    try:
        set_and_read(admin_settings, "dev0008@xiot.test", ["Output=true"])
        deadline = time.monotonic() + 5
        while not any(e.event == "control" for e in seen) and time.monotonic() < deadline:
            time.sleep(0.05)
    finally:
        fleet.call(lambda: setattr(fleet.fleet, "on_event", None))
    assert any(e.event == "control" and "Output=true" in e.detail for e in seen)


def test_node_parameter_form(fleet, admin_settings):
    from xiot.iot.concentrator.client import get_node_parameters_for_edit

    async def scenario():
        async with Session(admin_settings) as session:
            return await get_node_parameters_for_edit(session, "dev0005@xiot.test/sim",
                                                      "Relay1", timeout=5)

    form = run(scenario())
    address = form.field("Address")
    assert address is not None and address.value == 4  # after Sensor1-3 on the bus
    assert (address.minimum, address.maximum) == ("1", "247")
    assert form.field("Serial").value.startswith("XS")
