"""Result and request types of the IoT protocol layer (XEP-0323, XEP-0325).

XEP-0326's browsing results (data sources, nodes) are in ``xiot.iot.concentrator.model``.

Everything here is a frozen dataclass so that results can be shared between tasks, cached and
compared without copies.  Each result offers ``to_record()``: a flat dict with stable keys whose
values are JSON-serialisable, so that renderers (NDJSON, CSV, tables) never need to know XMPP or
Python types.

The XML Schema value codecs that sensor-data fields and control parameters share (XEP-0323 §2.9
harmonises the two type systems) live in ``xiot.xmpp.values``, next to the data forms that use
them too.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal

from xiot.errors import UsageError
from xiot.xmpp.values import (  # noqa: F401  (the IoT layer's vocabulary includes them)
    FIELD_TYPE_ALIASES,
    decimals_of,
    format_bool,
    format_datetime,
    format_number,
    format_value,
    json_value,
    parse_bool,
    parse_datetime,
    parse_value,
)

# ---------------------------------------------------------------------------------------------
# Vocabulary
# ---------------------------------------------------------------------------------------------

#: Field categories ("field types" in XEP-0323) that may appear on a returned field.
HISTORICAL_CATEGORIES: tuple[str, ...] = (
    "historicalSecond",
    "historicalMinute",
    "historicalHour",
    "historicalDay",
    "historicalWeek",
    "historicalMonth",
    "historicalQuarter",
    "historicalYear",
    "historicalOther",
)
FIELD_CATEGORIES: tuple[str, ...] = (
    "momentary",
    "peak",
    "status",
    "computed",
    "identity",
    *HISTORICAL_CATEGORIES,
)
#: Request-only shorthands: ``all`` sets every category, ``historical`` every historical one.
REQUEST_SHORTHANDS: tuple[str, ...] = ("all", "historical")

#: QoS flags, in the XEP's order (the reliability ladder is a subset of these).
QOS_FLAGS: tuple[str, ...] = (
    "missing",
    "inProgress",
    "automaticEstimate",
    "manualEstimate",
    "manualReadout",
    "automaticReadout",
    "timeOffset",
    "warning",
    "error",
    "signed",
    "invoiced",
    "endOfSeries",
    "powerFailure",
    "invoiceConfirmed",
)

#: The ten XEP-0323 field value elements (version 0.3 and later).
FIELD_TYPES: tuple[str, ...] = (
    "numeric",
    "string",
    "boolean",
    "date",
    "dateTime",
    "duration",
    "enum",
    "int",
    "long",
    "time",
)
#: Older spellings a parser must accept, mapped to the current element name.
#: The ten XEP-0325 control parameter elements.
PARAMETER_TYPES: tuple[str, ...] = (
    "boolean",
    "color",
    "date",
    "dateTime",
    "double",
    "duration",
    "int",
    "long",
    "string",
    "time",
)

ReadingStatus = Literal["ok", "partial", "error", "timeout", "offline", "rejected"]

# ---------------------------------------------------------------------------------------------
# Addressing
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class NodeRef:
    """A node behind a JID: ``nodeId`` plus the optional ``sourceId`` and ``cacheType``."""

    node_id: str
    source_id: str | None = None
    cache_type: str | None = None

    @classmethod
    def coerce(cls, value: NodeRef | str) -> NodeRef:
        """Accept a bare node id where a ``NodeRef`` is expected (the common case)."""
        return value if isinstance(value, NodeRef) else cls(value)

    def matches(self, other: NodeRef) -> bool:
        """True if ``other`` is this node; unset attributes on ``self`` match anything."""
        return (
            self.node_id == other.node_id
            and (self.source_id is None or self.source_id == other.source_id)
            and (self.cache_type is None or self.cache_type == other.cache_type)
        )

    def __str__(self) -> str:
        parts = [self.node_id]
        if self.source_id:
            parts.append(f"source={self.source_id}")
        if self.cache_type:
            parts.append(f"cache={self.cache_type}")
        return " ".join(parts)


def node_record(node: NodeRef | None) -> dict[str, str | None]:
    return {
        "node": node.node_id if node else None,
        "source_id": node.source_id if node else None,
        "cache_type": node.cache_type if node else None,
    }


# ---------------------------------------------------------------------------------------------
# XEP-0323 sensor data
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Field:
    """One sensor-data field as read from (or reported by) a device.

    ``value`` is the Python value (``float`` for numeric, ``int``, ``bool``, ``date``,
    ``datetime``, ``time``, or ``str`` for string, enum and duration).  ``raw`` keeps the lexical
    form as received, because the number of decimals is meaningful (``10`` vs ``10.00``) and a
    float cannot carry it; ``decimals`` is derived from it.  ``node`` may be given as a string.
    """

    name: str
    type: str
    value: Any
    node: NodeRef | None = None
    timestamp: datetime | None = None
    unit: str | None = None
    decimals: int | None = None
    categories: frozenset[str] = frozenset()
    flags: frozenset[str] = frozenset()
    writable: bool | None = None
    data_type: str | None = None
    module: str | None = None
    string_ids: str | None = None
    raw: str | None = None

    def __post_init__(self) -> None:
        if isinstance(self.node, str):
            object.__setattr__(self, "node", NodeRef(self.node))
        kind = FIELD_TYPE_ALIASES.get(self.type, self.type)
        if kind not in FIELD_TYPES:
            raise UsageError(f"unknown field type {self.type!r}", f"use one of {FIELD_TYPES}")
        object.__setattr__(self, "type", kind)
        object.__setattr__(self, "categories", frozenset(self.categories))
        object.__setattr__(self, "flags", frozenset(self.flags))
        _check_names(self.categories, _CATEGORY_SET, "field category")
        _check_names(self.flags, _FLAG_SET, "QoS flag")

    @property
    def lexical(self) -> str:
        """The value as it goes on the wire: the original text if known, else formatted."""
        if self.raw is not None:
            return self.raw
        return format_value(self.type, self.value, self.decimals)

    def to_record(self) -> dict[str, Any]:
        """Flat, JSON-ready view of the field with stable keys."""
        return {
            **node_record(self.node),
            "name": self.name,
            "type": self.type,
            "value": json_value(self.value),
            "raw": self.lexical,
            "unit": self.unit,
            "decimals": self.decimals,
            "timestamp": format_datetime(self.timestamp) if self.timestamp else None,
            "categories": ",".join(sorted(self.categories)),
            "flags": ",".join(sorted(self.flags)),
            "writable": self.writable,
            "data_type": self.data_type,
        }


@dataclass(frozen=True, slots=True)
class NodeError:
    """A readout error for one node, as carried by a XEP-0323 ``failure`` element."""

    message: str
    node: NodeRef | None = None
    timestamp: datetime | None = None

    def __post_init__(self) -> None:
        if isinstance(self.node, str):
            object.__setattr__(self, "node", NodeRef(self.node))

    def __str__(self) -> str:
        return f"{self.node.node_id}: {self.message}" if self.node else self.message


def _check_names(names: frozenset[str], allowed: frozenset[str], what: str) -> None:
    if names <= allowed:  # the common case, taken for every parsed field
        return
    unknown = sorted(names - allowed)
    raise UsageError(f"unknown {what} {', '.join(unknown)}",
                     f"use one of: {', '.join(sorted(allowed))}")


_CATEGORY_SET = frozenset(FIELD_CATEGORIES)
_FLAG_SET = frozenset(QOS_FLAGS)
_REQUEST_CATEGORY_SET = frozenset((*FIELD_CATEGORIES, *REQUEST_SHORTHANDS))


def expand_categories(names: Iterable[str]) -> frozenset[str]:
    """Resolve the request shorthands ``all`` and ``historical`` into concrete categories.

    Raises ``UsageError`` for names that are neither categories nor shorthands.
    """
    result: set[str] = set()
    for name in names:
        if name == "all":
            result.update(FIELD_CATEGORIES)
        elif name == "historical":
            result.update(HISTORICAL_CATEGORIES)
        elif name in FIELD_CATEGORIES:
            result.add(name)
        else:
            _check_names(frozenset({name}), _REQUEST_CATEGORY_SET, "field category")
    return frozenset(result)


def _as_datetime(value: datetime | str | None, what: str) -> datetime | None:
    if value is None or isinstance(value, datetime):
        return value
    try:
        return parse_datetime(value)
    except ValueError as exc:
        raise UsageError(
            f"malformed {what} timestamp {value!r}", "use ISO 8601, e.g. 2013-03-07T16:24:30"
        ) from exc


@dataclass(frozen=True, slots=True)
class ReadoutRequest:
    """What to read: field names, categories, a time range and nodes (all hints to the device).

    Empty ``categories`` means "all" (what a device assumes when no flag is set).  Strings are
    accepted for the timestamps and nodes and validated here, raising ``UsageError``, so the
    CLI can pass user input straight through.
    """

    fields: frozenset[str] = frozenset()
    categories: frozenset[str] = frozenset()
    from_: datetime | None = None
    to: datetime | None = None
    nodes: tuple[NodeRef, ...] = ()
    when: datetime | None = None
    tokens: Mapping[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        object.__setattr__(self, "fields", frozenset(self.fields))
        object.__setattr__(self, "categories", expand_categories(self.categories))
        object.__setattr__(self, "from_", _as_datetime(self.from_, "from"))
        object.__setattr__(self, "to", _as_datetime(self.to, "to"))
        object.__setattr__(self, "when", _as_datetime(self.when, "when"))
        object.__setattr__(self, "nodes", tuple(NodeRef.coerce(n) for n in self.nodes))
        unknown = sorted(set(self.tokens) - {"serviceToken", "deviceToken", "userToken"})
        if unknown:
            raise UsageError(f"unknown token attribute {', '.join(unknown)}")
        if self.from_ and self.to and _comparable(self.from_, self.to) and self.from_ > self.to:
            raise UsageError("the readout time range ends before it starts")

    def wants_category(self, categories: frozenset[str]) -> bool:
        """Whether a returned field with these categories is inside the request (a union)."""
        if not self.categories or not categories:
            return True
        return bool(self.categories & categories)

    def wants_time(self, stamp: datetime | None) -> bool:
        """Whether a timestamp falls in ``from_``..``to``; incomparable zones are let through."""
        if stamp is None:
            return True
        if self.from_ and _comparable(stamp, self.from_) and stamp < self.from_:
            return False
        return not (self.to and _comparable(stamp, self.to) and stamp > self.to)


def _on_node(item: Field, node: str | None) -> bool:
    return node is None or (item.node is not None and item.node.node_id == node)


def _comparable(a: datetime, b: datetime) -> bool:
    """Naive and aware datetimes cannot be ordered; the XEP leaves naive zones undefined."""
    return (a.tzinfo is None) == (b.tzinfo is None)


@dataclass(frozen=True, slots=True)
class Reading:
    """The outcome of one readout of one JID (possibly several nodes behind it)."""

    jid: str
    status: ReadingStatus
    fields: tuple[Field, ...] = ()
    errors: tuple[str, ...] = ()
    missing: tuple[str, ...] = ()
    elapsed_ms: float = 0.0
    node: str | None = None
    seqnr: int | None = None
    condition: str | None = None

    @property
    def ok(self) -> bool:
        return self.status == "ok"

    def value(self, name: str, node: str | None = None) -> Any:
        """The value of the newest field called ``name`` (optionally on one node), or None."""
        matches = [f for f in self.fields if f.name == name and _on_node(f, node)]
        if not matches:
            return None
        # naive and aware stamps cannot be ordered together; compare wall-clock values
        newest = max(matches, key=lambda f: (f.timestamp or datetime.min).replace(tzinfo=None))
        return newest.value

    def to_record(self) -> dict[str, Any]:
        """A flat summary of the readout; values are in ``field_records()``."""
        return {
            "jid": self.jid,
            "node": self.node,
            "status": self.status,
            "fields": len(self.fields),
            "errors": "; ".join(self.errors),
            "missing": ",".join(self.missing),
            "elapsed_ms": round(self.elapsed_ms, 1),
            "condition": self.condition,
        }

    def field_records(self) -> list[dict[str, Any]]:
        """One flat record per field, each carrying the JID and the readout status."""
        return [{"jid": self.jid, "status": self.status, **f.to_record()} for f in self.fields]


# ---------------------------------------------------------------------------------------------
# XEP-0325 control
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ControlParameter:
    """One typed control parameter to set (XEP-0325 ``set`` child), or a node parameter."""

    name: str
    type: str
    value: Any

    def __post_init__(self) -> None:
        if self.type not in PARAMETER_TYPES:
            raise UsageError(
                f"unknown parameter type {self.type!r}", f"use one of: {', '.join(PARAMETER_TYPES)}"
            )
        if isinstance(self.value, str) and self.type not in ("string",):
            try:
                object.__setattr__(self, "value", parse_value(self.type, self.value))
            except ValueError as exc:
                raise UsageError(f"bad value for {self.name} ({self.type}): {exc}") from exc

    @classmethod
    def parse(cls, assignment: str, default_type: str = "string") -> ControlParameter:
        """Parse ``name=value`` or ``name:type=value`` as typed on a command line."""
        if "=" not in assignment:
            raise UsageError(f"expected NAME[:TYPE]=VALUE, got {assignment!r}")
        left, text = assignment.split("=", 1)
        name, _, type_ = left.partition(":")
        if not name:
            raise UsageError(f"missing parameter name in {assignment!r}")
        return cls(name, type_ or default_type, text)

    @property
    def lexical(self) -> str:
        return format_value(self.type, self.value)

    def to_record(self) -> dict[str, Any]:
        return {"name": self.name, "type": self.type, "value": json_value(self.value)}


@dataclass(frozen=True, slots=True)
class ParameterSpec:
    """A control parameter a device offers: its type, current value and form metadata."""

    name: str
    type: str
    value: Any
    label: str | None = None
    description: str | None = None
    minimum: float | int | None = None
    maximum: float | int | None = None
    options: tuple[str, ...] = ()
    group: str | None = None
    page: str | None = None

    def __post_init__(self) -> None:
        if self.type not in PARAMETER_TYPES:
            raise UsageError(f"unknown parameter type {self.type!r}")


@dataclass(frozen=True, slots=True)
class ControlResult:
    """The outcome of one control request to one JID."""

    jid: str
    ok: bool
    node: str | None = None
    failed_parameters: tuple[str, ...] = ()
    error: str | None = None
    condition: str | None = None
    acknowledged: bool = True
    applied_nodes: tuple[NodeRef, ...] = ()
    applied_parameters: tuple[str, ...] = ()
    elapsed_ms: float = 0.0

    def to_record(self) -> dict[str, Any]:
        return {
            "jid": self.jid,
            "node": self.node,
            "ok": self.ok,
            "acknowledged": self.acknowledged,
            "failed_parameters": ",".join(self.failed_parameters),
            "error": self.error,
            "condition": self.condition,
            "applied_nodes": ",".join(n.node_id for n in self.applied_nodes),
            "applied_parameters": ",".join(self.applied_parameters),
            "elapsed_ms": round(self.elapsed_ms, 1),
        }
