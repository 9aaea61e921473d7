"""What simulated devices measure and what they let an operator change.

Each kind keeps a little physical state (a room temperature that drifts towards a setpoint, an
energy counter that only grows, a relay that is on or off) so that readouts look plausible and
a control action visibly changes what the next readout shows.  Values come from a seeded RNG
per device, so a run with ``--seed`` is reproducible.
"""

from __future__ import annotations

import math
import random
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from datetime import time as dtime
from typing import Any, ClassVar

from xiot.iot.concentrator.model import DataSource, NodeInfo
from xiot.iot.model import (
    HISTORICAL_CATEGORIES,
    ControlParameter,
    Field,
    NodeRef,
    ParameterSpec,
    ReadoutRequest,
)

KIND_NAMES = ("thermometer", "meter", "relay", "dimmer", "concentrator")
#: Most historical points a device returns for one request (a year of hours is plenty).
MAX_HISTORY_POINTS = 2000


def _now() -> datetime:
    return datetime.now(UTC).replace(microsecond=0)


@dataclass
class SimDevice:
    """Base class: identity fields, history generation and the control surface."""

    name: str
    rng: random.Random
    serial: str
    booted: datetime | None = None
    kind: ClassVar[str] = "device"
    model: ClassVar[str] = "xiot-sim"

    # -- readout ----------------------------------------------------------------------------

    def momentary(self, now: datetime) -> list[Field]:
        raise NotImplementedError

    def history_value(self, name: str, when: datetime) -> float | None:
        """The value a numeric field had at ``when``; None if the field keeps no history."""
        return None

    def history_fields(self) -> Sequence[tuple[str, str, int]]:
        """(name, unit, decimals) of the fields that have history."""
        return ()

    def fields(self, request: ReadoutRequest) -> list[Field]:
        """Everything the request may want; the sensor server filters it precisely."""
        now = _now()
        out: list[Field] = []
        if request.wants_category({"momentary"}) or request.wants_category({"computed"}):
            out += self.momentary(now)
        if request.wants_category({"identity"}):
            out += self.identity(now)
        if request.wants_category({"status"}):
            out += self.status(now)
        # History is costly, so an unspecific request (no categories) does not get it.
        if request.categories & {"historicalHour", "historicalDay"}:
            out += list(self.history(request, now))
        return out

    def identity(self, now: datetime) -> list[Field]:
        cats = frozenset({"identity"})
        flags = frozenset({"automaticReadout"})
        return [
            Field("Serial number", "string", self.serial, timestamp=now, categories=cats,
                  flags=flags),
            Field("Model", "string", f"{self.model}/{self.kind}", timestamp=now,
                  categories=cats, flags=flags),
            Field("Firmware", "string", "1.4.2", timestamp=now, categories=cats, flags=flags),
        ]

    def status(self, now: datetime) -> list[Field]:
        cats = frozenset({"status"})
        flags = frozenset({"automaticReadout"})
        if self.booted is None:  # chosen once: a device boots once, not at every readout
            self.booted = now - timedelta(seconds=int(self.rng.uniform(3600, 86400 * 30)))
        uptime = now - self.booted
        return [
            Field("Online", "boolean", True, timestamp=now, categories=cats, flags=flags),
            Field("Uptime", "duration", _iso_duration(uptime), timestamp=now, categories=cats,
                  flags=flags),
            Field("Last boot", "dateTime", self.booted, timestamp=now, categories=cats,
                  flags=flags),
            Field("Installed", "date", (now - timedelta(days=400)).date(), timestamp=now,
                  categories=cats, flags=flags),
        ]

    def history(self, request: ReadoutRequest, now: datetime) -> Iterator[Field]:
        """Hourly (and daily) points between ``from`` and ``to``, newest first, bounded."""
        end = min(request.to or now, now).replace(microsecond=0)
        start = request.from_ or end - timedelta(hours=24)
        hourly = request.wants_category({"historicalHour"})
        step, category = (timedelta(hours=1), "historicalHour") if hourly else \
            (timedelta(days=1), "historicalDay")
        when = end.replace(minute=0, second=0) if hourly else \
            end.replace(hour=0, minute=0, second=0)
        points = 0
        while when >= start and points < MAX_HISTORY_POINTS:
            for name, unit, decimals in self.history_fields():
                value = self.history_value(name, when)
                if value is not None:
                    yield Field(name, "numeric", round(value, decimals), timestamp=when,
                                unit=unit, decimals=decimals, categories=frozenset({category}),
                                flags=frozenset({"automaticReadout", "endOfSeries"})
                                if points == 0 else frozenset({"automaticReadout"}))
            when -= step
            points += 1

    # -- control ----------------------------------------------------------------------------

    def parameters(self) -> list[ParameterSpec]:
        return []

    def apply(self, params: Sequence[ControlParameter]) -> None:
        """Change state; called only with parameters the control server has validated."""
        for param in params:
            setattr(self, _attr(param.name), param.value)


def _attr(name: str) -> str:
    return name.lower().replace(" ", "_")


def _iso_duration(delta: timedelta) -> str:
    seconds = int(delta.total_seconds())
    days, rest = divmod(seconds, 86400)
    hours, rest = divmod(rest, 3600)
    minutes, secs = divmod(rest, 60)
    return f"P{days}DT{hours}H{minutes}M{secs}S"


def _numeric(name: str, value: float, unit: str, decimals: int, now: datetime,
             category: str = "momentary", **extra: Any) -> Field:
    return Field(name, "numeric", round(value, decimals), timestamp=now, unit=unit,
                 decimals=decimals, categories=frozenset({category}),
                 flags=frozenset({"automaticReadout"}), **extra)


@dataclass
class Thermometer(SimDevice):
    """A room sensor: temperature drifts towards the setpoint, humidity wanders."""

    kind: ClassVar[str] = "thermometer"
    setpoint: float = 21.0
    temperature: float = 20.0

    def momentary(self, now: datetime) -> list[Field]:
        self.temperature += (self.setpoint - self.temperature) * 0.3 + self.rng.gauss(0, 0.05)
        humidity = 45 + 10 * math.sin(now.timestamp() / 3600) + self.rng.gauss(0, 0.5)
        return [
            _numeric("Temperature", self.temperature, "°C", 2, now),
            _numeric("Humidity", humidity, "%", 1, now),
            _numeric("Setpoint", self.setpoint, "°C", 1, now, writable=True),
        ]

    def history_fields(self) -> Sequence[tuple[str, str, int]]:
        return (("Temperature", "°C", 2),)

    def history_value(self, name: str, when: datetime) -> float | None:
        hour = when.hour + when.minute / 60
        return self.setpoint - 1.5 * math.cos((hour - 4) / 24 * 2 * math.pi)

    def parameters(self) -> list[ParameterSpec]:
        return [ParameterSpec("Setpoint", "double", self.setpoint, label="Setpoint (°C)",
                              minimum=5.0, maximum=35.0)]


@dataclass
class Meter(SimDevice):
    """An electricity meter: a growing energy counter and many momentary quantities, so its
    readout is split over several messages as large meters do."""

    kind: ClassVar[str] = "meter"
    energy_kwh: float = 1000.0
    phases: int = 3

    def momentary(self, now: datetime) -> list[Field]:
        power = 1500 + 800 * math.sin(now.timestamp() / 900) + self.rng.gauss(0, 40)
        self.energy_kwh += max(power, 0) / 1000 / 3600 * 5
        fields = [
            _numeric("Energy", self.energy_kwh, "kWh", 3, now),
            _numeric("Power", power, "W", 1, now),
            Field("Tariff", "enum", "day" if 6 <= now.hour < 22 else "night", timestamp=now,
                  data_type="Tariff", categories=frozenset({"momentary"}),
                  flags=frozenset({"automaticReadout"})),
            Field("Pulses", "long", int(self.energy_kwh * 1000), timestamp=now,
                  categories=frozenset({"momentary"}), flags=frozenset({"automaticReadout"})),
            Field("Night tariff from", "time", dtime(22, 0), timestamp=now,
                  categories=frozenset({"momentary"}), flags=frozenset({"automaticReadout"})),
        ]
        for phase in range(1, self.phases + 1):
            voltage = 230 + self.rng.gauss(0, 1.5)
            current = power / self.phases / voltage
            fields += [
                _numeric(f"Voltage L{phase}", voltage, "V", 1, now),
                _numeric(f"Current L{phase}", current, "A", 2, now),
                _numeric(f"Power factor L{phase}", 0.95 + self.rng.gauss(0, 0.01), "", 3, now,
                         category="computed"),
            ]
        return fields

    def history_fields(self) -> Sequence[tuple[str, str, int]]:
        return (("Energy", "kWh", 3),)

    def history_value(self, name: str, when: datetime) -> float | None:
        hours_ago = max((_now() - when).total_seconds() / 3600, 0)
        return max(self.energy_kwh - 1.5 * hours_ago, 0)


@dataclass
class Relay(SimDevice):
    """A switch: one boolean output that control sets and readout reports."""

    kind: ClassVar[str] = "relay"
    output: bool = False
    switch_count: int = 0

    def momentary(self, now: datetime) -> list[Field]:
        flags = frozenset({"automaticReadout"})
        cats = frozenset({"momentary"})
        return [
            Field("Output", "boolean", self.output, timestamp=now, categories=cats, flags=flags,
                  writable=True),
            Field("Switch count", "int", self.switch_count, timestamp=now, categories=cats,
                  flags=flags),
        ]

    def parameters(self) -> list[ParameterSpec]:
        return [ParameterSpec("Output", "boolean", self.output, label="Output on")]

    def apply(self, params: Sequence[ControlParameter]) -> None:
        for param in params:
            if param.name == "Output" and bool(param.value) != self.output:
                self.output = bool(param.value)
                self.switch_count += 1


@dataclass
class Dimmer(SimDevice):
    """A light dimmer: a level in percent and an on/off switch."""

    kind: ClassVar[str] = "dimmer"
    level: int = 50
    on: bool = True

    def momentary(self, now: datetime) -> list[Field]:
        flags = frozenset({"automaticReadout"})
        cats = frozenset({"momentary"})
        load = (self.level if self.on else 0) * 0.6
        return [
            Field("Level", "int", self.level, timestamp=now, unit="%", categories=cats,
                  flags=flags, writable=True),
            Field("On", "boolean", self.on, timestamp=now, categories=cats, flags=flags,
                  writable=True),
            _numeric("Load", load, "W", 1, now),
        ]

    def parameters(self) -> list[ParameterSpec]:
        return [
            ParameterSpec("Level", "int", self.level, label="Level (%)", minimum=0, maximum=100),
            ParameterSpec("On", "boolean", self.on, label="Light on"),
        ]


@dataclass
class Concentrator(SimDevice):
    """A gateway with subnodes behind it (XEP-0326): a few thermometers and relays."""

    kind: ClassVar[str] = "concentrator"
    children: dict[str, SimDevice] | None = None

    def __post_init__(self) -> None:
        if self.children is None:
            self.children = {}
            for index in range(1, 4):
                self.children[f"Sensor{index}"] = Thermometer(
                    f"{self.name}/Sensor{index}", random.Random(self.rng.random()),
                    f"{self.serial}-S{index}", setpoint=19.0 + index)
            for index in range(1, 3):
                self.children[f"Relay{index}"] = Relay(
                    f"{self.name}/Relay{index}", random.Random(self.rng.random()),
                    f"{self.serial}-R{index}")

    def momentary(self, now: datetime) -> list[Field]:
        return [Field("Nodes", "int", len(self.children or {}), timestamp=now,
                      categories=frozenset({"momentary"}))]

    def node_fields(self, request: ReadoutRequest) -> list[Field]:
        """Fields of every requested node, each carrying its node reference."""
        out: list[Field] = []
        for ref in request.nodes:
            child = (self.children or {}).get(ref.node_id)
            if child is None:
                continue
            node = NodeRef(ref.node_id, "Sim")
            out += [_with_node(f, node) for f in child.fields(request)]
        return out

    def sources(self) -> list[DataSource]:
        return [DataSource("Sim", "Simulated field bus", False, _now())]

    def node_infos(self) -> list[NodeInfo]:
        infos = []
        for node_id, child in (self.children or {}).items():
            infos.append(NodeInfo(
                NodeRef(node_id, "Sim"), node_type=child.kind, state="Ok",
                is_readable=True, is_controllable=bool(child.parameters()),
                display_name=f"{child.kind.title()} {node_id[-1]}",
                parameters=(ControlParameter("Serial", "string", child.serial),),
            ))
        return infos

    def node_form(self, info: NodeInfo) -> Any:
        """The node-parameter form (XEP-0326): how the gateway talks to the node."""
        from xiot.xmpp.forms import FormField, build_form

        child = (self.children or {}).get(info.node.node_id)
        if child is None:
            return None
        address = list(self.children or {}).index(info.node.node_id) + 1
        return build_form([
            FormField("Serial", "text-single", "Serial number", values=(child.serial,)),
            FormField("Address", "text-single", "Bus address", values=(str(address),),
                      datatype="xs:int", minimum="1", maximum="247"),
            FormField("PollInterval", "text-single", "Poll interval (s)", values=("10",),
                      datatype="xs:int", minimum="1", maximum="3600"),
        ], title=f"Parameters of {info.node.node_id}")

    def child_parameters(self, node: NodeRef | None) -> list[ParameterSpec]:
        if node is None:
            return []
        child = (self.children or {}).get(node.node_id)
        return child.parameters() if child else []

    def apply_to(self, params: Sequence[ControlParameter], nodes: Sequence[NodeRef]) -> None:
        for ref in nodes:
            child = (self.children or {}).get(ref.node_id)
            if child is not None:
                child.apply(params)


def _with_node(item: Field, node: NodeRef) -> Field:
    from dataclasses import replace

    return replace(item, node=node)


KINDS: dict[str, type[SimDevice]] = {
    "thermometer": Thermometer,
    "meter": Meter,
    "relay": Relay,
    "dimmer": Dimmer,
    "concentrator": Concentrator,
}


def make_device(kind: str, name: str, seed: int | None, index: int) -> SimDevice:
    """A device of ``kind`` whose randomness depends only on (seed, index)."""
    rng = random.Random(f"{seed}-{index}" if seed is not None else None)
    cls = KINDS[kind]
    device = cls(name=name, rng=rng, serial=f"XS{index:06d}")
    if isinstance(device, Thermometer):
        device.setpoint = round(rng.uniform(19, 23), 1)
        device.temperature = device.setpoint + rng.uniform(-2, 2)
    if isinstance(device, Meter):
        device.energy_kwh = round(rng.uniform(100, 50000), 3)
    if isinstance(device, Dimmer):
        device.level = rng.randrange(0, 101, 5)
    return device


__all__ = ["HISTORICAL_CATEGORIES", "KINDS", "KIND_NAMES", "SimDevice", "make_device"]
