"""The results of PubSub operations: frozen dataclasses, each with ``to_record()``.

Records of one kind share one key set in a stable order, so NDJSON lines of one command can
be read by ``jq`` and CSV has a fixed header.
"""

from __future__ import annotations

import datetime as dt
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field
from typing import Any

from xiot.pubsub.payload import json_of, to_text

NODE_COLUMNS = ("service", "node", "name", "type", "parent", "depth")
CONFIG_COLUMNS = ("service", "node", "field", "value", "type", "label", "options")
ITEM_COLUMNS = ("service", "node", "id", "publisher", "payload", "json")
SUBSCRIPTION_COLUMNS = ("service", "node", "jid", "subscription", "subid")
AFFILIATION_COLUMNS = ("service", "node", "jid", "affiliation")
EVENT_COLUMNS = ("time", "service", "node", "event", "id", "publisher", "payload", "json",
                 "redirect", "delay")
OUTCOME_COLUMNS = ("service", "node", "action", "target", "status", "error")
STEP_COLUMNS = ("step", "action", "service", "node", "detail", "status", "error")


@dataclass(frozen=True)
class NodeEntry:
    """A node as ``list`` shows it; ``parent`` and ``depth`` place it in a collection tree."""

    service: str
    node: str
    name: str | None = None
    type: str | None = None
    parent: str | None = None
    depth: int = 0

    def to_record(self) -> dict[str, Any]:
        return {"service": self.service, "node": self.node, "name": self.name,
                "type": self.type, "parent": self.parent, "depth": self.depth}


@dataclass(frozen=True)
class NodeInfo:
    """disco#info of a node: leaf or collection, and its meta-data form."""

    service: str
    node: str
    type: str | None
    meta: dict[str, Any] = field(default_factory=dict)

    def to_record(self) -> dict[str, Any]:
        short = {k.removeprefix("pubsub#"): v for k, v in self.meta.items()}
        if "type" in short:  # pubsub#type is the payload namespace, not leaf/collection
            short["payload_type"] = short.pop("type")
        return {"service": self.service, "node": self.node, "type": self.type} | short


@dataclass(frozen=True)
class ConfigField:
    """One field of a node's configuration form (or of the service's default form)."""

    service: str
    node: str | None
    field: str
    value: Any
    type: str
    label: str | None = None
    options: tuple[str, ...] = ()

    def to_record(self) -> dict[str, Any]:
        return {"service": self.service, "node": self.node, "field": self.field,
                "value": self.value, "type": self.type, "label": self.label,
                "options": list(self.options) or None}


@dataclass(frozen=True)
class Item:
    """A published item; ``payload`` is its one child element, if any."""

    service: str
    node: str
    id: str | None
    publisher: str | None = None
    payload: ET.Element | None = field(default=None, compare=False)

    def to_record(self) -> dict[str, Any]:
        return {"service": self.service, "node": self.node, "id": self.id,
                "publisher": self.publisher, "payload": to_text(self.payload),
                "json": json_of(self.payload)}


@dataclass(frozen=True)
class Subscription:
    service: str
    node: str | None
    jid: str
    subscription: str
    subid: str | None = None

    def to_record(self) -> dict[str, Any]:
        return {"service": self.service, "node": self.node, "jid": self.jid,
                "subscription": self.subscription, "subid": self.subid}


@dataclass(frozen=True)
class Affiliation:
    service: str
    node: str | None
    jid: str
    affiliation: str

    def to_record(self) -> dict[str, Any]:
        return {"service": self.service, "node": self.node, "jid": self.jid,
                "affiliation": self.affiliation}


@dataclass(frozen=True)
class Event:
    """A notification: ``event`` is item, retract, purge, delete, config or subscription."""

    time: dt.datetime
    service: str
    node: str
    event: str
    id: str | None = None
    publisher: str | None = None
    payload: ET.Element | None = field(default=None, compare=False)
    redirect: str | None = None
    #: The XEP-0203 stamp of an event the server held back (a last item sent on subscribe).
    delay: str | None = None
    detail: dict[str, Any] = field(default_factory=dict, compare=False)

    def to_record(self) -> dict[str, Any]:
        return {"time": self.time, "service": self.service, "node": self.node,
                "event": self.event, "id": self.id, "publisher": self.publisher,
                "payload": to_text(self.payload) if self.payload is not None else
                (self.detail or None) and _detail_text(self.detail),
                "json": json_of(self.payload), "redirect": self.redirect, "delay": self.delay}


def _detail_text(detail: dict[str, Any]) -> str:
    return ", ".join(f"{k}={v}" for k, v in detail.items())


@dataclass(frozen=True)
class Step:
    """One change ``apply`` (or another bulk operation) planned or made, and how it went."""

    step: int
    action: str
    service: str
    node: str
    detail: str = ""
    status: str = "planned"
    error: str | None = None

    def to_record(self) -> dict[str, Any]:
        return {"step": self.step, "action": self.action, "service": self.service,
                "node": self.node, "detail": self.detail, "status": self.status,
                "error": self.error}


@dataclass(frozen=True)
class Outcome:
    """What happened to one target of an operation on many (ids, JIDs): ok, or failed why."""

    service: str
    node: str | None
    action: str
    target: str
    status: str = "ok"
    error: str | None = None

    @property
    def failed(self) -> bool:
        return self.status != "ok"

    def to_record(self) -> dict[str, Any]:
        return {"service": self.service, "node": self.node, "action": self.action,
                "target": self.target, "status": self.status, "error": self.error}
