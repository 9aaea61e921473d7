"""Many simulated devices in one process, each a real XMPP client of its own account.

Every device logs in with its own stream (as a real device would), announces presence, and
answers XEP-0323 readouts, XEP-0325 control and, for concentrators, XEP-0326 browsing.  Logins
run with bounded concurrency; a device whose login fails is reported and the rest carry on.
What happens (online, offline, control applied, injected errors) is published as
``FleetEvent`` records so a command or a test can follow along.  With ``publish`` set, each
device also publishes its momentary readings as PubSub items (XEP-0323 ``fields`` payloads)
to its own node (a ``{user}``/``{jid}`` template) or to one shared node.
"""

from __future__ import annotations

import asyncio
import csv
import logging
import random
import ssl
import time
from collections.abc import AsyncIterator, Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from xiot.config import Settings
from xiot.errors import UsageError, XiotError
from xiot.iot.model import ControlParameter, Field, NodeError, NodeRef, ReadoutRequest
from xiot.sim.kinds import KIND_NAMES, Concentrator, Meter, SimDevice, make_device
from xiot.sim.publish import prepare_nodes, publish_node, publish_once

log = logging.getLogger("xiot")

RESOURCE = "sim"
#: The node id a device's own values carry (XEP-0323's customary default).
OWN_NODE = "Device01"
#: Fields per message when a large readout is split over several messages.
BATCH_SIZE = 5
DEVICE_FEATURES = ("urn:xmpp:iot:sensordata", "urn:xmpp:iot:control")


@dataclass(frozen=True)
class SimAccount:
    """A device account to run: where its password comes from stays outside the records."""

    jid: str
    password: str = field(repr=False)
    kind: str | None = None


@dataclass(frozen=True)
class FleetEvent:
    """Something a simulated device did, as it happened."""

    at: float
    jid: str
    event: str  # online | offline | login-failed | control | readout-error | published |
    #             publish-error | stopped
    detail: str = ""

    def to_record(self) -> dict[str, Any]:
        return {"time": round(self.at, 3), "jid": self.jid, "event": self.event,
                "detail": self.detail}


@dataclass(frozen=True)
class FleetOptions:
    """How the fleet behaves; defaults give a calm, reproducible fleet."""

    kinds: tuple[str, ...] = KIND_NAMES
    seed: int | None = None
    churn: float = 0.0  # mean seconds between presence flaps across the fleet; 0 = none
    error_rate: float = 0.0  # share of readouts answered with a device error
    login_concurrency: int = 50
    resource: str = RESOURCE
    #: PubSub node to publish readings to: ``{user}`` or ``{jid}`` make one node per device.
    publish: str | None = None
    publish_interval: float = 10.0
    #: The PubSub service (None: the one the server lists).
    publish_service: str | None = None

    def __post_init__(self) -> None:
        if self.publish is not None:
            publish_node(self.publish, "dev@example.org")  # a bad template fails here
            if self.publish_interval <= 0:
                raise UsageError("--publish-interval must be a positive number of seconds")
        unknown = [k for k in self.kinds if k not in KIND_NAMES]
        if unknown or not self.kinds:
            raise UsageError(f"unknown device kind(s): {', '.join(unknown) or '(none)'}",
                             f"Use a comma-separated list of {', '.join(KIND_NAMES)}")
        if not 0 <= self.error_rate <= 1:
            raise UsageError(f"--error-rate {self.error_rate} is not between 0 and 1")
        if self.churn < 0:
            raise UsageError("--churn must be zero or a positive number of seconds")


def read_accounts_csv(path: Path) -> list[SimAccount]:
    """Accounts from a CSV with ``jid`` and ``password`` columns (and optional ``kind``)."""
    try:
        text = path.read_text(encoding="utf-8") if str(path) != "-" else _stdin()
    except OSError as exc:
        raise UsageError(f"cannot read {path}: {exc.strerror}") from None
    rows = list(csv.DictReader(text.splitlines()))
    if not rows or "jid" not in rows[0] or "password" not in rows[0]:
        raise UsageError(f"{path}: expected a CSV header with jid and password columns",
                         "Example header: jid,password,kind")
    accounts = []
    for number, row in enumerate(rows, start=2):
        if not row.get("jid") or not row.get("password"):
            raise UsageError(f"{path}:{number}: empty jid or password")
        kind = (row.get("kind") or "").strip() or None
        if kind and kind not in KIND_NAMES:
            raise UsageError(f"{path}:{number}: unknown kind '{kind}'",
                             f"Use one of {', '.join(KIND_NAMES)}")
        accounts.append(SimAccount(row["jid"].strip(), row["password"], kind))
    return accounts


def _stdin() -> str:
    import sys

    return sys.stdin.read()


#: Reconnect waits start near ``RECONNECT_FIRST`` seconds, double, and never exceed
#: ``RECONNECT_MAX``.
RECONNECT_FIRST = 1.0
RECONNECT_MAX = 30.0


def reconnect_delays(rng: random.Random, first: float = RECONNECT_FIRST,
                     most: float = RECONNECT_MAX) -> Iterator[float]:
    """Endless waits before each reconnect attempt: doubling, capped, and jittered.

    Each wait is drawn between half and all of its step (1, 2, 4, ... ``most`` seconds), so a
    fleet that lost its server all at once does not come back in lock-step and flood the
    restarted server with a thousand logins in the same instant, and no wait exceeds ``most``.
    """
    step = first
    while True:
        yield rng.uniform(step / 2, step)
        step = min(step * 2, most)


class SimulatedDevice:
    """One device: its model, its stream, and the protocol servers attached to it."""

    def __init__(self, account: SimAccount, model: SimDevice, options: FleetOptions,
                 emit: Callable[[FleetEvent], None]) -> None:
        self.account = account
        self.model = model
        self.options = options
        self.emit = emit
        self.rng = random.Random(f"{options.seed}-err-{account.jid}")
        self.session: Any = None
        self.servers: list[Any] = []
        self.online = False
        self.stopping = False
        self._connection: tuple[Settings, ssl.SSLContext] | None = None
        self._reconnect_task: asyncio.Task[None] | None = None
        self._publisher: asyncio.Task[None] | None = None
        #: Set by the fleet once the nodes are ready; a reconnect resumes publishing.
        self.publishing = False
        self.published = 0
        self._seqnr = 0

    @property
    def full_jid(self) -> str:
        return f"{self.account.jid}/{self.options.resource}"

    async def start(self, settings: Settings, ssl_context: ssl.SSLContext) -> None:
        from xiot.xmpp.session import Session

        self._connection = (settings, ssl_context)
        self.session = Session(settings.with_jid(self.full_jid),
                               plugins=("xep_0030", "xep_0199"),
                               password=self.account.password, send_presence=True,
                               ssl_context=ssl_context)
        await self.session.open()
        xmpp = self.session.client
        for feature in DEVICE_FEATURES:
            xmpp.plugin["xep_0030"].add_feature(feature)
        xmpp.plugin["xep_0030"].add_identity("device", self.model.kind, name=self.model.name)
        self._attach(xmpp)
        xmpp.add_event_handler("disconnected", self._on_disconnected)
        self.online = True
        self.emit(FleetEvent(time.time(), self.full_jid, "online", self.model.kind))
        if self.publishing:
            self.start_publishing()

    def _on_disconnected(self, _reason: Any) -> None:
        """A real device reconnects when its stream drops; so does a simulated one."""
        if self.stopping or self._reconnect_task is not None:
            return
        self.online = False
        self.emit(FleetEvent(time.time(), self.full_jid, "offline", "connection lost"))
        self._reconnect_task = asyncio.ensure_future(self._reconnect())

    async def _reconnect(self) -> None:
        from xiot.errors import XiotError

        assert self._connection is not None
        waits = reconnect_delays(random.Random(f"{self.options.seed}-backoff-{self.account.jid}"))
        try:
            self._detach()
            if self.session is not None:
                await self.session.close()
            wait = next(waits)
            log.info("%s: connection lost; reconnecting in %.1f s", self.full_jid, wait)
            while not self.stopping:
                await asyncio.sleep(wait)
                try:
                    await self.start(*self._connection)
                    return
                except XiotError as exc:
                    wait = next(waits)
                    log.info("%s: reconnect failed (%s); retrying in %.1f s", self.full_jid,
                             exc.message, wait)
                    self.emit(FleetEvent(time.time(), self.full_jid, "login-failed",
                                         f"{exc.message}; retrying in {wait:.1f}s"))
        finally:
            self._reconnect_task = None

    def _detach(self) -> None:
        for server in self.servers:
            server.close()
        self.servers.clear()
        if self._publisher is not None:
            self._publisher.cancel()
            self._publisher = None

    def _attach(self, xmpp: Any) -> None:
        from xiot.iot.control.device import ControlServer
        from xiot.iot.sensordata.device import SensorServer

        model = self.model
        if isinstance(model, Concentrator):
            from xiot.iot.concentrator.device import ConcentratorServer

            xmpp.plugin["xep_0030"].add_feature("urn:xmpp:iot:concentrators")
            nodes = [info.node for info in model.node_infos()]
            # A read without nodes gets the gateway's own values (it is a device too), so
            # a fleet-wide readout needs no special case for concentrators.
            self.servers.append(SensorServer(xmpp, self._concentrator_fields,
                                             nodes=[*nodes, NodeRef(OWN_NODE)]))
            self.servers.append(ControlServer(xmpp, model.child_parameters, self._on_node_set,
                                              title=f"{model.name} nodes", nodes=nodes))
            self.servers.append(ConcentratorServer(xmpp, model.sources(),
                                                   {"Sim": model.node_infos()},
                                                   node_form=model.node_form))
            return
        self.servers.append(SensorServer(xmpp, self._fields, default_node=OWN_NODE,
                                         nodes=[NodeRef(OWN_NODE)]))
        if model.parameters():
            self.servers.append(ControlServer(xmpp, lambda _node: model.parameters(),
                                              self._on_set, title=f"{model.name} control"))

    # -- PubSub ----------------------------------------------------------------------------

    def start_publishing(self) -> None:
        self.publishing = True
        if self._publisher is None and self.online:
            self._publisher = asyncio.ensure_future(self._publish_loop())

    async def _publish_loop(self) -> None:
        """Publish the momentary readings every ``publish_interval`` seconds (jittered)."""
        from xiot.errors import XiotError

        assert self.options.publish is not None
        node = publish_node(self.options.publish, self.account.jid)
        shared = node == self.options.publish
        interval = self.options.publish_interval
        rng = random.Random(f"{self.options.seed}-publish-{self.account.jid}")
        await asyncio.sleep(rng.uniform(0, interval))
        while self.online and not self.stopping:
            try:
                item_id = await publish_once(self, node, shared)
            except XiotError as exc:
                self.emit(FleetEvent(time.time(), self.full_jid, "publish-error",
                                     f"{node}: {exc.message}"))
                return
            self.published += 1
            self.emit(FleetEvent(time.time(), self.full_jid, "published",
                                 f"{node} {item_id}"))
            await asyncio.sleep(rng.uniform(0.8 * interval, 1.2 * interval))

    def readings_payload(self) -> Any:
        """The device's momentary values as a XEP-0323 ``fields`` element."""
        import xml.etree.ElementTree as ET
        from datetime import UTC, datetime

        from xiot.iot.sensordata.stanzas import NS as SENSORDATA
        from xiot.iot.sensordata.wire import build_fields

        now = datetime.now(UTC).replace(microsecond=0)
        self._seqnr += 1
        fields = ET.Element(f"{{{SENSORDATA}}}fields", {"seqnr": str(self._seqnr),
                                                         "done": "true"})
        values = self.model.fields(ReadoutRequest(categories=frozenset({"momentary"})))
        return build_fields(fields, values, NodeRef(OWN_NODE), now)

    # -- protocol callbacks ----------------------------------------------------------------

    def _fields(self, request: ReadoutRequest) -> Sequence[Field | NodeError] | Any:
        if self._inject_error():
            return [NodeError("Sensor fault: no response from the measuring element")]
        fields = self.model.fields(request)
        if isinstance(self.model, Meter) and len(fields) > BATCH_SIZE:
            return _batches(fields)
        return fields

    def _concentrator_fields(self, request: ReadoutRequest) -> Sequence[Field | NodeError]:
        if self._inject_error():
            return [NodeError("Field bus timeout",
                              node=request.nodes[0] if request.nodes else None)]
        if not request.nodes or all(n.node_id == OWN_NODE for n in request.nodes):
            return self.model.fields(request)
        return self.model.node_fields(request)  # type: ignore[attr-defined]

    def _inject_error(self) -> bool:
        if self.options.error_rate and self.rng.random() < self.options.error_rate:
            self.emit(FleetEvent(time.time(), self.full_jid, "readout-error", "injected"))
            return True
        return False

    def _on_set(self, params: tuple[ControlParameter, ...], nodes: tuple[NodeRef, ...]) -> None:
        self.model.apply(params)
        self.emit(FleetEvent(time.time(), self.full_jid, "control", _describe(params)))

    def _on_node_set(self, params: tuple[ControlParameter, ...],
                     nodes: tuple[NodeRef, ...]) -> None:
        self.model.apply_to(params, nodes)  # type: ignore[attr-defined]
        where = ",".join(n.node_id for n in nodes)
        self.emit(FleetEvent(time.time(), self.full_jid, "control", f"{where}: "
                             f"{_describe(params)}"))

    # -- presence ---------------------------------------------------------------------------

    def go_offline(self) -> None:
        if self.session and self.session.xmpp and self.online:
            self.session.client.send_presence(ptype="unavailable")
            self.online = False
            self.emit(FleetEvent(time.time(), self.full_jid, "offline", "churn"))

    def go_online(self) -> None:
        if self.session and self.session.xmpp and not self.online:
            self.session.client.send_presence()
            self.online = True
            self.emit(FleetEvent(time.time(), self.full_jid, "online", "churn"))

    async def stop(self) -> None:
        self.stopping = True
        if self._reconnect_task is not None:
            self._reconnect_task.cancel()
        self._detach()
        if self.session is not None:
            await self.session.close()
        self.online = False


async def _batches(fields: list[Field]) -> AsyncIterator[list[Field]]:
    """Send a large readout in several ``fields`` messages, as big meters do."""
    for start in range(0, len(fields), BATCH_SIZE):
        yield fields[start:start + BATCH_SIZE]
        await asyncio.sleep(0)


def _describe(params: Sequence[ControlParameter]) -> str:
    return ", ".join(f"{p.name}={p.lexical}" for p in params)


class Fleet:
    """Run ``accounts`` as simulated devices: ``async with Fleet(...) as fleet``."""

    def __init__(self, settings: Settings, accounts: Sequence[SimAccount],
                 options: FleetOptions | None = None,
                 on_event: Callable[[FleetEvent], None] | None = None) -> None:
        if not accounts:
            raise UsageError("no device accounts to simulate",
                             "Start a lab with devices (xiot lab up -n 20) or give --accounts")
        self.settings = settings
        self.options = options or FleetOptions()
        self.on_event = on_event
        self.devices = [
            SimulatedDevice(account, make_device(
                account.kind or self.options.kinds[i % len(self.options.kinds)],
                account.jid.split("@")[0], self.options.seed, i + 1), self.options, self._emit)
            for i, account in enumerate(accounts)
        ]
        self.failed: list[tuple[str, XiotError]] = []
        self._churn_task: asyncio.Task[None] | None = None

    def _emit(self, event: FleetEvent) -> None:
        if self.on_event is not None:
            self.on_event(event)

    @property
    def online(self) -> list[SimulatedDevice]:
        return [d for d in self.devices if d.online]

    def by_jid(self, jid: str) -> SimulatedDevice:
        bare = jid.split("/")[0]
        return next(d for d in self.devices if d.account.jid == bare)

    async def __aenter__(self) -> Fleet:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    async def start(self) -> None:
        """Log every device in; failures are recorded, not raised, unless all fail.

        With ``publish`` set, the nodes are prepared first (``sim.publish.prepare_nodes``)
        and then every device starts publishing.
        """
        from xiot.xmpp.session import build_ssl_context

        ssl_context = build_ssl_context(self.settings)
        limit = asyncio.Semaphore(max(1, self.options.login_concurrency))

        async def login(device: SimulatedDevice) -> None:
            async with limit:
                try:
                    await device.start(self.settings, ssl_context)
                except XiotError as exc:
                    self.failed.append((device.full_jid, exc))
                    self._emit(FleetEvent(time.time(), device.full_jid, "login-failed",
                                          exc.message))

        await asyncio.gather(*(login(d) for d in self.devices))
        if self.failed and len(self.failed) == len(self.devices):
            raise self.failed[0][1]
        if self.options.publish is not None:
            await prepare_nodes(self.settings, self.options, self.devices)
            for device in self.devices:
                device.start_publishing()
        if self.options.churn > 0:
            self._churn_task = asyncio.ensure_future(self._churn())

    async def _churn(self) -> None:
        """Flap one random device's presence every ``churn`` seconds on average."""
        rng = random.Random(f"{self.options.seed}-churn")
        while True:
            await asyncio.sleep(rng.expovariate(1 / self.options.churn))
            candidates = [d for d in self.devices if d.session and d.session.xmpp]
            if not candidates:
                continue
            device = rng.choice(candidates)
            if device.online:
                device.go_offline()
                asyncio.get_running_loop().call_later(
                    rng.uniform(self.options.churn, 3 * self.options.churn), device.go_online)
            else:
                device.go_online()

    async def stop(self) -> None:
        if self._churn_task is not None:
            self._churn_task.cancel()
        await asyncio.gather(*(d.stop() for d in self.devices), return_exceptions=True)
        self._emit(FleetEvent(time.time(), "*", "stopped", f"{len(self.devices)} devices"))
