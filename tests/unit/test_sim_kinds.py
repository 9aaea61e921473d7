"""Simulated device models: reproducible, plausible, and changed by control."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

import pytest

from tests.unit.iot.harness import Peer
from xiot.errors import UsageError
from xiot.iot.model import ControlParameter, ReadoutRequest
from xiot.sim.fleet import FleetOptions, SimAccount, SimulatedDevice, read_accounts_csv
from xiot.sim.kinds import KIND_NAMES, make_device

MOMENTARY = ReadoutRequest(categories=frozenset({"momentary"}))


def values(device, request=MOMENTARY):
    return {f.name: f.value for f in device.fields(request)}


def test_same_seed_same_devices_different_seed_different_devices():
    a, b = make_device("thermometer", "t", 7, 1), make_device("thermometer", "t", 7, 1)
    assert values(a) == values(b)
    assert values(make_device("thermometer", "t", 8, 1)) != values(a)


@pytest.mark.parametrize("kind", KIND_NAMES)
def test_every_kind_reports_momentary_values_with_timestamps(kind):
    fields = make_device(kind, "x", 1, 1).fields(MOMENTARY)
    assert fields and all(f.timestamp is not None for f in fields)


def test_meter_energy_never_decreases_and_grows_over_time():
    """A meter counts consumed energy: never backwards, and onwards while power flows."""
    meter = make_device("meter", "m", 1, 2)
    readings = [values(meter)["Energy"] for _ in range(5)]
    assert readings == sorted(readings)
    assert readings[-1] > readings[0]


def test_relay_control_changes_the_next_readout_and_counts_switches():
    relay = make_device("relay", "r", 1, 3)
    relay.apply([ControlParameter("Output", "boolean", True)])
    relay.apply([ControlParameter("Output", "boolean", True)])
    assert values(relay) == {"Output": True, "Switch count": 1}


def test_thermometer_moves_towards_a_new_setpoint():
    thermo = make_device("thermometer", "t", 1, 1)
    thermo.apply([ControlParameter("Setpoint", "double", 30.0)])
    for _ in range(20):
        temperature = values(thermo)["Temperature"]
    assert abs(temperature - 30.0) < 0.5


def test_history_stays_inside_the_requested_range():
    now = datetime.now(UTC)
    request = ReadoutRequest(categories=frozenset({"historicalHour"}),
                             from_=now - timedelta(hours=10), to=now - timedelta(hours=4))
    fields = make_device("meter", "m", 1, 2).fields(request)
    stamps = [f.timestamp for f in fields]
    assert 5 <= len(stamps) <= 7
    assert all(request.from_ <= s <= request.to for s in stamps)
    energy = [f.value for f in sorted(fields, key=lambda f: f.timestamp)]
    assert energy == sorted(energy)


def test_unspecific_request_gets_no_history():
    fields = make_device("thermometer", "t", 1, 1).fields(ReadoutRequest())
    assert not any(c.startswith("historical") for f in fields for c in f.categories)


def test_concentrator_reads_only_requested_nodes():
    gateway = make_device("concentrator", "g", 1, 5)
    fields = gateway.node_fields(ReadoutRequest(categories=frozenset({"momentary"}),
                                                nodes=("Relay2",)))
    assert {f.node.node_id for f in fields} == {"Relay2"}
    gateway.apply_to([ControlParameter("Output", "boolean", True)], [fields[0].node])
    assert gateway.children["Relay2"].output and not gateway.children["Relay1"].output


def test_fleet_options_reject_unknown_kinds_and_bad_rates():
    with pytest.raises(UsageError):
        FleetOptions(kinds=("toaster",))
    with pytest.raises(UsageError):
        FleetOptions(error_rate=2)


def test_accounts_csv(tmp_path):
    good = tmp_path / "a.csv"
    good.write_text("jid,password,kind\na@x.test,pw1,relay\nb@x.test,pw2,\n")
    accounts = read_accounts_csv(good)
    assert [(a.jid, a.kind) for a in accounts] == [("a@x.test", "relay"), ("b@x.test", None)]
    assert "pw1" not in repr(accounts[0])
    bad = tmp_path / "b.csv"
    bad.write_text("jid\na@x.test\n")
    with pytest.raises(UsageError):
        read_accounts_csv(bad)


def test_simulated_thermostat_refuses_a_setpoint_that_is_not_a_number():
    """NaN passes 5 <= x <= 35 (every comparison is false): the device must refuse it."""
    thermo = make_device("thermometer", "t", 1, 1)
    before = thermo.setpoint
    events = []
    simulated = SimulatedDevice(SimAccount("t@example.org", "pw"), thermo, FleetOptions(),
                                events.append)
    peer = Peer("t@example.org/sim")

    async def scenario():
        simulated._attach(peer.xmpp)
        answers = []
        for text in ("NaN", "22.5"):
            peer.deliver("<iq xmlns='jabber:client' type='set' id='s' from='ops@example.org/a'>"
                         "<set xmlns='urn:xmpp:iot:control'>"
                         f"<double name='Setpoint' value='{text}'/></set></iq>")
            answers.append((peer.last().get("type"), thermo.setpoint))
        return answers

    nan, number = asyncio.run(scenario())
    assert nan == ("error", before)
    assert number == ("result", 22.5)
    assert [e.detail for e in events if e.event == "control"] == ["Setpoint=22.5"]
