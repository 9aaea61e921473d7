"""Result types of XEP-0326 browsing: data sources, nodes and their messages.

Frozen dataclasses with ``to_record()`` like the rest of ``xiot.iot.model``; they live here
because only concentrator browsing (and the simulated gateway) uses them.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from xiot.iot.model import ControlParameter, NodeRef, format_datetime, node_record

NODE_STATES: tuple[str, ...] = (
    "None",
    "Information",
    "WarningSigned",
    "WarningUnsigned",
    "ErrorSigned",
    "ErrorUnsigned",
)


@dataclass(frozen=True, slots=True)
class DataSource:
    """A data source of a concentrator (``dataSource`` element)."""

    source_id: str
    name: str | None = None
    has_children: bool = False
    last_changed: datetime | None = None

    def to_record(self) -> dict[str, Any]:
        return {
            "source_id": self.source_id,
            "name": self.name,
            "has_children": self.has_children,
            "last_changed": format_datetime(self.last_changed) if self.last_changed else None,
        }


@dataclass(frozen=True, slots=True)
class NodeMessage:
    """A message attached to a node (``message`` element with timestamp, type and eventId)."""

    text: str
    timestamp: datetime | None = None
    type: str | None = None
    event_id: str | None = None


@dataclass(frozen=True, slots=True)
class NodeInfo:
    """What a concentrator says about one node."""

    node: NodeRef
    node_type: str | None = None
    state: str | None = None
    has_children: bool = False
    is_readable: bool = False
    is_controllable: bool = False
    has_commands: bool = False
    parent_id: str | None = None
    last_changed: datetime | None = None
    display_name: str | None = None
    parameters: tuple[ControlParameter, ...] = ()
    messages: tuple[NodeMessage, ...] = ()

    def to_record(self) -> dict[str, Any]:
        record: dict[str, Any] = {
            **node_record(self.node),
            "node_type": self.node_type,
            "state": self.state,
            "has_children": self.has_children,
            "is_readable": self.is_readable,
            "is_controllable": self.is_controllable,
            "has_commands": self.has_commands,
            "parent_id": self.parent_id,
            "last_changed": format_datetime(self.last_changed) if self.last_changed else None,
            "display_name": self.display_name,
            "messages": len(self.messages),
            "parameters": ";".join(f"{p.name}={p.lexical}" for p in self.parameters),
        }
        return record
