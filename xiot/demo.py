"""The newcomer's tour: a lab, a simulated fleet, real readouts and control, then tear-down.

Each step yields a ``StepOutcome`` as it finishes, so the command can print progress live and
the tests can check what happened without parsing text.  Everything runs against a real
Prosody on loopback; the simulated devices are real XMPP clients of their own accounts.
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, replace
from typing import Any

from xiot.config import GlobalOptions, resolve
from xiot.lab import manager


@dataclass(frozen=True)
class StepOutcome:
    """One demo step: what was done, whether it worked, and the figure worth showing."""

    step: int
    name: str
    ok: bool
    detail: str
    elapsed_ms: float
    #: A few real values the step produced (readout rows), to show rather than describe.
    samples: tuple[dict[str, Any], ...] = ()

    def to_record(self) -> dict[str, Any]:
        return {"step": self.step, "name": self.name, "ok": self.ok, "detail": self.detail,
                "elapsed_ms": round(self.elapsed_ms, 1)}


class _Steps:
    """Numbers the steps and times each one from the end of the previous one."""

    def __init__(self) -> None:
        self.number = 0
        self.clock = time.perf_counter()

    def __call__(self, name: str, ok: bool, detail: str,
                 samples: tuple[dict[str, Any], ...] = ()) -> StepOutcome:
        now = time.perf_counter()
        self.number += 1
        outcome = StepOutcome(self.number, name, ok, detail, (now - self.clock) * 1000,
                              samples)
        self.clock = now
        return outcome


async def run_demo(name: str = "demo", devices: int = 20, keep: bool = False
                   ) -> AsyncIterator[StepOutcome]:
    """Lab ``name`` with ``devices`` simulated devices, exercised and (unless keep) removed."""
    from xiot.sim.fleet import Fleet, FleetOptions, SimAccount

    step = _Steps()
    lab, started = manager.up(name=name, devices=devices)
    keep = keep or not started  # someone else's running lab is not ours to remove
    yield step("lab up", True,
               f"Prosody {lab.prosody_version} on {lab.host}:{lab.ports['c2s']}, "
               f"{lab.devices} device accounts" + ("" if started else " (already running)"))
    try:
        settings = replace(resolve(GlobalOptions(profile=name)), timeout=10)
        accounts = [SimAccount(a.jid, a.password) for a in manager.accounts(lab)
                    if a.role == "device"]
        async with Fleet(settings, accounts, FleetOptions(seed=1)) as fleet:
            kinds = sorted({d.model.kind for d in fleet.devices})
            yield step("simulated devices", not fleet.failed,
                       f"{len(fleet.online)} online ({', '.join(kinds)})")
            async for outcome in _operator_steps(settings, fleet, step):
                yield outcome
    finally:
        if not keep:
            manager.down(name)
    if not keep:
        yield step("lab down", True, f"stopped pid {lab.pid}, removed {lab.directory}")


async def _operator_steps(settings: Any, fleet: Any, step: Callable[..., StepOutcome]
                          ) -> AsyncIterator[StepOutcome]:
    """What an operator does: log in, see who is online, read, switch, read again."""
    from xiot.iot.model import ReadoutRequest
    from xiot.presence.resolve import resolve_targets
    from xiot.xmpp.jid import parse_jid
    from xiot.xmpp.session import Session

    plain = [d for d in fleet.devices if d.model.kind != "concentrator"]
    relay = next(d for d in fleet.devices if d.model.kind == "relay")
    gateway = next((d for d in fleet.devices if d.model.kind == "concentrator"), None)
    async with Session(settings) as session:
        yield step("operator log-in", True, f"{session.client.boundjid} over {session.endpoint}")
        jids = [parse_jid(d.account.jid) for d in fleet.devices]
        targets = await resolve_targets(session, jids, settings.timeout)
        online = sum(t.status == "ok" for t in targets)
        yield step("presence", online == len(jids), f"{online} of {len(jids)} devices online")

        momentary = ReadoutRequest(categories=frozenset({"momentary"}))
        readings = await _read(session, [d.account.jid for d in plain], momentary, settings)
        gateways = [d for d in fleet.devices if d.model.kind == "concentrator"]
        if gateways:
            behind = ReadoutRequest(categories=frozenset({"momentary"}),
                                    nodes=tuple(gateways[0].model.children))
            readings += await _read(session, [d.account.jid for d in gateways], behind,
                                    settings)
        values = sum(len(r.fields) for r in readings)
        failed = [r.jid for r in readings if r.status != "ok"]
        sample = _sample(readings)
        yield step("readout all", not failed,
                   f"{len(readings)} devices, {values} values, {len(failed)} failed; {sample}",
                   _sample_rows(readings))

        before = await _value(session, relay.account.jid, "Output", settings)
        result = await _switch(session, relay.account.jid, not before, settings)
        after = await _value(session, relay.account.jid, "Output", settings)
        yield step("control", result.ok and after is (not before),
                   f"{relay.account.jid} Output {_onoff(before)} -> {_onoff(after)} "
                   f"(set acknowledged in {result.elapsed_ms:.1f} ms)")

        if gateway is not None:
            nodes = ReadoutRequest(categories=frozenset({"momentary"}), nodes=("Sensor1",))
            (reading,) = await _read(session, [gateway.account.jid], nodes, settings)
            yield step("concentrator node", reading.status == "ok",
                       f"{gateway.account.jid} node Sensor1: "
                       f"Temperature {reading.value('Temperature')} °C")

        yield await _pubsub_round_trip(session, plain[0], step)


async def _pubsub_round_trip(session: Any, device: Any, step: Callable[..., StepOutcome]
                             ) -> StepOutcome:
    """A device publishes its readings to a node the operator watches; the event arrives.

    The operator's session has sent presence (the presence step), so events to its bare JID
    reach it.  The node is the demo's own and is deleted again.
    """
    import asyncio

    from xiot.errors import XiotError
    from xiot.pubsub import core, items, nodes, subscriptions
    from xiot.pubsub.events import Watch

    jid = device.account.jid
    node = f"xiot-demo/{jid.split('@')[0]}"
    try:
        where = await core.target(session)
        if not await nodes.exists(session, where, node):
            await nodes.create(session, where, node, {"pubsub#access_model": "open"})
        await subscriptions.set_affiliations(session, where, node, {jid: "publisher"})
        async with Watch(session, where, [node]) as watch:
            started = time.perf_counter()
            device_where = await core.target(device.session)
            item = await items.publish(device.session, device_where, node,
                                       device.readings_payload())
            event = await asyncio.wait_for(anext(watch.events()), session.settings.timeout)
            elapsed = (time.perf_counter() - started) * 1000
        await nodes.delete(session, where, node)
    except (XiotError, TimeoutError) as exc:
        return step("pubsub round trip", False, getattr(exc, "message", None) or
                    "no event within the timeout")
    return step("pubsub round trip", event.id == item.id,
                f"{jid} published its readings to node {node} on {where.service}; the "
                f"operator's watch had item {item.id} {elapsed:.1f} ms later")


async def _read(session: Any, jids: list[str], request: Any, settings: Any) -> list[Any]:
    from xiot.iot.readout import read_devices
    from xiot.xmpp.jid import parse_jid

    return [r async for r in read_devices(session, [parse_jid(j) for j in jids],
                                          request, settings.timeout)]


async def _value(session: Any, jid: str, name: str, settings: Any) -> Any:
    from xiot.iot.model import ReadoutRequest

    request = ReadoutRequest(fields=frozenset({name}), categories=frozenset({"momentary"}))
    (reading,) = await _read(session, [jid], request, settings)
    return reading.value(name)


async def _switch(session: Any, jid: str, on: bool, settings: Any) -> Any:
    from xiot.iot.actions import Assignment, control_set
    from xiot.xmpp.jid import parse_jid

    return await control_set(session, parse_jid(jid),
                             [Assignment.parse(f"Output={'true' if on else 'false'}")], (),
                             False, settings.timeout)


def _sample(readings: list[Any]) -> str:
    for reading in sorted(readings, key=lambda r: r.jid):
        value = reading.value("Temperature")
        if value is not None:
            return f"e.g. {reading.jid.split('/')[0]} Temperature {value} °C"
    return ""


def _sample_rows(readings: list[Any], devices: int = 4) -> tuple[dict[str, Any], ...]:
    """The first momentary values of a few devices of different kinds, as table rows."""
    rows: list[dict[str, Any]] = []
    for reading in sorted(readings, key=lambda r: r.jid)[:devices]:
        for item in reading.fields[:2]:
            rows.append({"jid": reading.jid.split("/")[0], "name": item.name,
                         "value": item.raw if item.raw is not None else item.value,
                         "unit": item.unit})
    return tuple(rows)


def _onoff(value: Any) -> str:
    return "on" if value is True else "off" if value is False else "unknown"
