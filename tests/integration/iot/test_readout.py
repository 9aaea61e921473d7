"""XEP-0323 readouts against simulated devices on the real lab server."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

from xiot.iot.model import ReadoutRequest
from xiot.iot.readout import read_devices
from xiot.xmpp.jid import parse_jid
from xiot.xmpp.session import Session

MOMENTARY = ReadoutRequest(categories=frozenset({"momentary"}))


def read(settings, jids, request=MOMENTARY, timeout=5.0):
    async def scenario():
        async with Session(settings) as session:
            return [r async for r in read_devices(
                session, [parse_jid(j) for j in jids], request, timeout)]

    return {r.jid.split("/")[0]: r for r in asyncio.run(scenario())}


def test_single_bare_jid_is_resolved_from_presence(fleet, admin_settings):
    readings = read(admin_settings, ["dev0001@xiot.test"])
    reading = readings["dev0001@xiot.test"]
    assert reading.status == "ok"
    assert reading.jid == "dev0001@xiot.test/sim"
    temperature = reading.value("Temperature")
    assert isinstance(temperature, float) and 0 < temperature < 40
    field = next(f for f in reading.fields if f.name == "Temperature")
    assert field.unit == "°C" and "momentary" in field.categories and field.timestamp


def test_fan_out_reads_every_device_over_one_connection(fleet, admin_settings):
    jids = [f"dev{i:04d}@xiot.test" for i in range(1, 31) if i % 5]  # not concentrators
    readings = read(admin_settings, jids)
    assert set(readings) == set(jids)
    assert {r.status for r in readings.values()} == {"ok"}


def test_values_change_between_readouts(fleet, admin_settings):
    first = read(admin_settings, ["dev0002@xiot.test"])["dev0002@xiot.test"]
    second = read(admin_settings, ["dev0002@xiot.test"])["dev0002@xiot.test"]
    assert second.value("Energy") >= first.value("Energy")
    assert first.value("Power") != second.value("Power")


def test_every_field_type_arrives_typed(fleet, admin_settings):
    everything = ReadoutRequest(categories=frozenset({"momentary", "status", "identity"}))
    readings = read(admin_settings, ["dev0002@xiot.test", "dev0003@xiot.test"], everything)
    types = {f.type for r in readings.values() for f in r.fields}
    assert types == {"numeric", "string", "boolean", "date", "dateTime", "duration", "enum",
                     "int", "long", "time"}
    meter = readings["dev0002@xiot.test"]
    assert isinstance(meter.value("Pulses"), int)
    assert meter.value("Night tariff from").hour == 22
    assert meter.value("Serial number").startswith("XS")


def test_large_readout_arrives_in_several_messages(fleet, admin_settings):
    from slixmpp.xmlstream.handler import Callback
    from slixmpp.xmlstream.matcher import StanzaPath

    async def scenario():
        counted = []
        async with Session(admin_settings) as session:
            session.client.register_handler(Callback(
                "count-fields", StanzaPath("message/iot_fields"), counted.append))
            found = [r async for r in read_devices(
                session, [parse_jid("dev0002@xiot.test/sim")], MOMENTARY, 5)]
        return found[0], len(counted)

    reading, messages = asyncio.run(scenario())
    assert reading.status == "ok"
    assert len(reading.fields) > 5 and messages >= 2


def test_field_name_filter(fleet, admin_settings):
    request = ReadoutRequest(fields=frozenset({"Humidity"}),
                             categories=frozenset({"momentary"}))
    reading = read(admin_settings, ["dev0006@xiot.test"], request)["dev0006@xiot.test"]
    assert reading.status == "ok"
    assert {f.name for f in reading.fields} == {"Humidity"}


def test_historical_range_is_respected(fleet, admin_settings):
    now = datetime.now(UTC)
    request = ReadoutRequest(categories=frozenset({"historicalHour"}),
                             from_=now - timedelta(hours=6), to=now - timedelta(hours=2))
    reading = read(admin_settings, ["dev0001@xiot.test"], request)["dev0001@xiot.test"]
    assert reading.status == "ok"
    stamps = [f.timestamp for f in reading.fields]
    assert 3 <= len(stamps) <= 5
    assert all(request.from_ <= s <= request.to for s in stamps)
    assert all("historicalHour" in f.categories for f in reading.fields)


def test_concentrator_nodes_are_read_through_it(fleet, admin_settings):
    request = ReadoutRequest(categories=frozenset({"momentary"}), nodes=("Sensor1", "Relay2"))
    reading = read(admin_settings, ["dev0005@xiot.test"], request)["dev0005@xiot.test"]
    assert reading.status == "ok"
    assert {f.node.node_id for f in reading.fields} == {"Sensor1", "Relay2"}
    unknown = ReadoutRequest(nodes=("NoSuchNode",))
    refused = read(admin_settings, ["dev0005@xiot.test"], unknown)["dev0005@xiot.test"]
    assert refused.status in ("rejected", "error") and refused.condition == "item-not-found"


def test_offline_and_unsubscribed_devices_are_named(fleet, admin_settings):
    readings = read(admin_settings, ["dev0001@xiot.test", "dev0049@xiot.test",
                                     "stranger@xiot.test"])
    assert readings["dev0001@xiot.test"].status == "ok"
    assert readings["dev0049@xiot.test"].status == "offline"
    assert readings["dev0049@xiot.test"].condition == "offline"
    assert readings["stranger@xiot.test"].condition == "not-subscribed"


def test_device_errors_are_reported_per_device(fleet, lab_accounts, admin_settings):
    from xiot.sim.fleet import Fleet, FleetOptions, SimAccount

    broken = [SimAccount(lab_accounts[n].jid, lab_accounts[n].password)
              for n in ("dev0041", "dev0042")]

    async def scenario():
        async with Fleet(admin_settings, broken, FleetOptions(kinds=("thermometer",),
                                                              error_rate=1.0)), \
                Session(admin_settings) as session:
            return [r async for r in read_devices(
                session, [parse_jid(f"{a.jid}/sim") for a in broken]
                + [parse_jid("dev0001@xiot.test/sim")], MOMENTARY, 5)]

    readings = {r.jid: r for r in asyncio.run(scenario())}
    assert readings["dev0041@xiot.test/sim"].status == "error"
    assert "Sensor fault" in readings["dev0041@xiot.test/sim"].errors[0]
    assert readings["dev0001@xiot.test/sim"].status == "ok"


def test_silent_device_times_out_while_others_are_reported(fleet, lab_accounts,
                                                          admin_settings):
    from slixmpp.xmlstream.handler import Callback
    from slixmpp.xmlstream.matcher import StanzaPath

    silent = lab_accounts["dev0043"]

    async def scenario():
        settings = admin_settings.with_jid(f"{silent.jid}/mute")
        async with Session(settings, password=silent.password) as device, \
                Session(admin_settings) as session:
            device.client.register_handler(Callback("swallow", StanzaPath("iq/iot_req"),
                                                    lambda iq: None))
            return [r async for r in read_devices(
                session, [parse_jid(f"{silent.jid}/mute"),
                                 parse_jid("dev0006@xiot.test/sim")], MOMENTARY, 1.5)]

    readings = {r.jid: r for r in asyncio.run(scenario())}
    assert readings["dev0043@xiot.test/mute"].status == "timeout"
    assert readings["dev0006@xiot.test/sim"].status == "ok"


def test_device_whose_stream_drops_reconnects(fleet, admin_settings):
    """The drop is seen (the device reports going offline) before the reconnection counts."""
    import time as _time

    device = fleet.fleet.by_jid("dev0026@xiot.test")
    dropped_session = device.session
    events = []
    fleet.call(lambda: setattr(fleet.fleet, "on_event", events.append))
    try:
        fleet.call(lambda: device.session.client.abort())
        deadline = _time.monotonic() + 20
        while _time.monotonic() < deadline and not _back_after_drop(events, device.full_jid):
            _time.sleep(0.1)
    finally:
        fleet.call(lambda: setattr(fleet.fleet, "on_event", None))
    seen = [e.event for e in events if e.jid == device.full_jid]
    assert "offline" in seen, f"the stream never dropped: {seen}"
    assert "online" in seen[seen.index("offline"):], f"no reconnection after the drop: {seen}"
    assert device.session is not dropped_session and device.online
    reading = read(admin_settings, ["dev0026@xiot.test"])["dev0026@xiot.test"]
    assert reading.status == "ok"


def _back_after_drop(events, jid):
    seen = [e.event for e in list(events) if e.jid == jid]
    return "offline" in seen and "online" in seen[seen.index("offline"):]


def test_churn_flaps_presence_and_readouts_follow(lab_accounts, admin_settings):
    from xiot.presence.resolve import resolve_targets
    from xiot.sim.fleet import Fleet, FleetOptions, SimAccount

    accounts = [SimAccount(lab_accounts[n].jid, lab_accounts[n].password)
                for n in ("dev0036", "dev0037", "dev0038")]
    events = []

    async def scenario():
        fleet = Fleet(admin_settings, accounts, FleetOptions(kinds=("relay",), seed=5,
                                                            churn=0.2), on_event=events.append)
        async with fleet, Session(admin_settings) as session:
            jids = [parse_jid(a.jid) for a in accounts]
            first = await resolve_targets(session, jids, 5)
            deadline = asyncio.get_running_loop().time() + 8
            while not any(e.event == "offline" for e in events):
                assert asyncio.get_running_loop().time() < deadline, events
                await asyncio.sleep(0.05)
            await asyncio.sleep(0.3)  # let the unavailable presence reach us
            offline = [d.account.jid for d in fleet.devices if not d.online]
            later = await resolve_targets(session, jids, 5)
            return first, offline, later

    first, offline, later = asyncio.run(scenario())
    assert all(t.status == "ok" for t in first)
    assert offline
    by_jid = {t.requested: t.status for t in later}
    assert any(by_jid[jid] == "offline" for jid in offline)
