"""XEP-0323 on the wire: build and parse ``req``, ``fields`` and ``failure`` elements.

Pure XML codecs over ElementTree, with no stream: the client and the device both use them,
and unit tests feed them recorded stanzas.  Parsing is tolerant (reference §9.2): a malformed
field is reported and skipped, ``identification`` is read as ``identity``, ``timeSpan`` as
``duration`` and booleans may be written ``1``/``0``.  Building always writes the 0.6 form.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from xiot.iot.elements import flag, node_from_xml, node_to_xml, nodes_from_xml, tokens_from_xml
from xiot.iot.model import (
    FIELD_CATEGORIES,
    FIELD_TYPE_ALIASES,
    FIELD_TYPES,
    HISTORICAL_CATEGORIES,
    QOS_FLAGS,
    Field,
    NodeError,
    NodeRef,
    ReadoutRequest,
    decimals_of,
    format_bool,
    format_datetime,
    parse_bool,
    parse_datetime,
    parse_value,
)
from xiot.iot.sensordata.stanzas import NS, q

#: Attribute spellings older peers and the XEP's own examples use, mapped to the 0.6 name.
CATEGORY_ALIASES = {"identification": "identity"}


# ---------------------------------------------------------------------------------------------
# req: build and parse
# ---------------------------------------------------------------------------------------------


def build_req(req: ET.Element, seqnr: int, request: ReadoutRequest) -> ET.Element:
    """Fill a ``req`` element from a ``ReadoutRequest``."""
    req.set("seqnr", str(seqnr))
    for name in _category_attributes(request.categories):
        req.set(name, "true")
    for attribute, stamp in (("from", request.from_), ("to", request.to), ("when", request.when)):
        if stamp is not None:
            req.set(attribute, format_datetime(stamp))
    for name, token in request.tokens.items():
        req.set(name, token)
    for node in request.nodes:
        node_to_xml(req, node, NS)
    for name in sorted(request.fields):
        ET.SubElement(req, q("field"), {"name": name})
    return req


def _category_attributes(categories: frozenset[str]) -> list[str]:
    """The shortest attribute set meaning ``categories``; empty means ``all``."""
    if not categories or categories >= set(FIELD_CATEGORIES):
        return ["all"]
    names = [c for c in FIELD_CATEGORIES if c in categories and c not in HISTORICAL_CATEGORIES]
    if categories >= set(HISTORICAL_CATEGORIES):
        return [*names, "historical"]
    return names + [c for c in HISTORICAL_CATEGORIES if c in categories]


def parse_req(req: ET.Element) -> tuple[int, ReadoutRequest]:
    """Read a ``req`` element (device side).  Raises ``ValueError`` if it is malformed."""
    seqnr = _seqnr_of(req)
    names = [*FIELD_CATEGORIES, "all", "historical", *CATEGORY_ALIASES]
    categories = {CATEGORY_ALIASES.get(n, n) for n in names if flag(req, n)}
    stamps = {a: _optional_datetime(req.get(a)) for a in ("from", "to", "when")}
    request = ReadoutRequest(
        fields=frozenset(f.get("name", "") for f in req.findall(q("field"))),
        categories=frozenset(categories),
        from_=stamps["from"],
        to=stamps["to"],
        when=stamps["when"],
        nodes=nodes_from_xml(req, NS),
        tokens=tokens_from_xml(req),
    )
    return seqnr, request


def _seqnr_of(element: ET.Element) -> int:
    try:
        return int(element.get("seqnr", ""))
    except ValueError as exc:
        raise ValueError(f"missing or malformed seqnr on {element.tag}") from exc


def _optional_datetime(text: str | None) -> datetime | None:
    return parse_datetime(text) if text else None


def wanted(request: ReadoutRequest, item: Field) -> bool:
    """Whether ``item`` is what ``request`` asked for.

    The client filters with it because a request is only a hint to the device (reference
    §2.2.8); the device filters with it so it sends no more than was asked.
    """
    if request.fields and item.name not in request.fields:
        return False
    return request.wants_category(item.categories) and request.wants_time(item.timestamp)


# ---------------------------------------------------------------------------------------------
# fields / failure: build and parse
# ---------------------------------------------------------------------------------------------


def build_fields(
    parent: ET.Element, fields: Sequence[Field], default_node: NodeRef, now: datetime | None = None
) -> ET.Element:
    """Append ``node``/``timestamp``/value elements for ``fields`` to a ``fields`` element.

    Fields keep their order; consecutive fields sharing node and timestamp share elements.
    Fields without a node go under ``default_node`` (the wrapper is mandatory in 0.6), fields
    without a timestamp get ``now``.
    """
    stamp_now = now or datetime.now(UTC).replace(microsecond=0)
    node_el: ET.Element | None = None
    ts_el: ET.Element | None = None
    current_node: NodeRef | None = None
    current_ts: datetime | None = None
    for item in fields:
        node = item.node or default_node
        stamp = item.timestamp or stamp_now
        if node_el is None or node != current_node:
            node_el, current_node, ts_el = node_to_xml(parent, node, NS), node, None
        if ts_el is None or stamp != current_ts:
            ts_el = ET.SubElement(node_el, q("timestamp"), {"value": format_datetime(stamp)})
            current_ts = stamp
        ts_el.append(field_to_xml(item))
    return parent


def field_to_xml(item: Field) -> ET.Element:
    """One value element with its common attributes."""
    element = ET.Element(q(item.type), {"name": item.name, "value": item.lexical})
    if item.type == "numeric":
        element.set("unit", item.unit or "")
    if item.type == "enum":
        element.set("dataType", item.data_type or "")
    for name in FIELD_CATEGORIES:
        if name in item.categories:
            element.set(name, "true")
    for name in QOS_FLAGS:
        if name in item.flags:
            element.set(name, "true")
    if item.writable is not None:
        element.set("writable", format_bool(item.writable))
    if item.module is not None:
        element.set("module", item.module)
    if item.string_ids is not None:
        element.set("stringIds", item.string_ids)
    return element


def parse_fields(fields_el: ET.Element) -> tuple[list[Field], list[str]]:
    """Parse a ``fields`` element into fields plus a list of problems found on the way.

    A malformed field is reported and skipped rather than failing the whole message, so one
    bad value from a device does not hide its other values.  ``timestamp`` directly under
    ``fields`` (no ``node`` wrapper) is accepted, with no node.
    """
    found: list[Field] = []
    problems: list[str] = []
    for child in fields_el:
        if child.tag == q("node"):
            node = node_from_xml(child)
            for ts_el in child.findall(q("timestamp")):
                _parse_timestamp(ts_el, node, found, problems)
        elif child.tag == q("timestamp"):
            _parse_timestamp(child, None, found, problems)
    return found, problems


def _parse_timestamp(
    ts_el: ET.Element, node: NodeRef | None, found: list[Field], problems: list[str]
) -> None:
    where = node.node_id if node else "?"
    stamp: datetime | None = None
    try:
        stamp = parse_datetime(ts_el.get("value", ""))
    except ValueError:
        problems.append(f"{where}: malformed timestamp {ts_el.get('value')!r}")
    for value_el in ts_el:
        try:
            found.append(field_from_xml(value_el, node, stamp))
        except ValueError as exc:
            problems.append(f"{where}/{value_el.get('name', '?')}: {exc}")


def field_from_xml(element: ET.Element, node: NodeRef | None, stamp: datetime | None) -> Field:
    """Parse one value element.  Raises ``ValueError`` for unknown types or bad values."""
    local = element.tag.rsplit("}", 1)[-1]
    kind = FIELD_TYPE_ALIASES.get(local, local)
    if kind not in FIELD_TYPES:
        raise ValueError(f"unknown field element {local!r}")
    raw = element.get("value")
    if raw is None:
        raise ValueError("field without a value")
    value: Any = parse_value(kind, raw)
    categories, flags = _categories_and_flags(element)
    writable = element.get("writable")
    return Field(
        name=element.get("name", ""),
        type=kind,
        value=value,
        node=node,
        timestamp=stamp,
        unit=element.get("unit") if kind == "numeric" else None,
        decimals=decimals_of(raw) if kind == "numeric" else None,
        categories=categories,
        flags=flags,
        writable=_lenient_bool(writable),
        data_type=element.get("dataType") if kind == "enum" else None,
        module=element.get("module"),
        string_ids=element.get("stringIds"),
        raw=raw,
    )


#: attribute -> category, including the old spelling; and the QoS flag attributes.
_CATEGORY_ATTRIBUTES = {name: name for name in FIELD_CATEGORIES} | CATEGORY_ALIASES
_FLAG_ATTRIBUTES = frozenset(QOS_FLAGS)


def _categories_and_flags(element: ET.Element) -> tuple[frozenset[str], frozenset[str]]:
    """One pass over the attributes: a fleet readout parses thousands of fields."""
    categories: set[str] = set()
    flags: set[str] = set()
    for attribute, text in element.attrib.items():
        category = _CATEGORY_ATTRIBUTES.get(attribute)
        if category is not None:
            if _lenient_bool(text):
                categories.add(category)
        elif attribute in _FLAG_ATTRIBUTES and _lenient_bool(text):
            flags.add(attribute)
    return frozenset(categories), frozenset(flags)


def _lenient_bool(text: str | None) -> bool | None:
    if text is None:
        return None
    try:
        return parse_bool(text)
    except ValueError:
        return None


def build_failure(parent: ET.Element, errors: Sequence[NodeError], default_node: NodeRef) -> None:
    """Append ``error`` children (``nodeId``, ``timestamp``, text) to a ``failure`` element."""
    for error in errors:
        node = error.node or default_node
        stamp = error.timestamp or datetime.now(UTC).replace(microsecond=0)
        element = ET.SubElement(parent, q("error"), {"nodeId": node.node_id})
        if node.source_id is not None:
            element.set("sourceId", node.source_id)
        if node.cache_type is not None:
            element.set("cacheType", node.cache_type)
        element.set("timestamp", format_datetime(stamp))
        element.text = error.message


def parse_failure(failure_el: ET.Element) -> list[NodeError]:
    """Parse the ``error`` children of ``failure``; a bad timestamp is dropped, not fatal."""
    errors = []
    for element in failure_el.findall(q("error")):
        try:
            stamp = _optional_datetime(element.get("timestamp"))
        except ValueError:
            stamp = None
        node = node_from_xml(element) if element.get("nodeId") else None
        errors.append(NodeError((element.text or "").strip(), node, stamp))
    return errors


# ---------------------------------------------------------------------------------------------
# stringIds (localisation, display only)
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class StringIdStep:
    """One step of a ``stringIds`` value: ``ID[|Module[|Seed]]``."""

    string_id: int
    module: str | None = None
    seed: str | None = None


def parse_string_ids(text: str) -> tuple[StringIdStep, ...]:
    """Parse ``stringIds``.  Raises ``ValueError`` if a step does not start with an integer."""
    steps = []
    for part in text.split(","):
        pieces = part.split("|", 2)
        if not pieces[0].strip().isdigit():
            raise ValueError(f"bad stringIds step {part!r}")
        module = pieces[1] if len(pieces) > 1 and pieces[1] else None
        seed = pieces[2] if len(pieces) > 2 else None
        steps.append(StringIdStep(int(pieces[0]), module, seed))
    return tuple(steps)


def localise(
    steps: Sequence[StringIdStep],
    lookup: Callable[[str | None, int], str | None],
    module: str | None = None,
) -> str | None:
    """Compose a localised name: each step's string may use ``%0%`` (previous) and ``%1%`` (seed).

    ``lookup(module, id)`` returns the template or None; None anywhere yields None so the
    caller falls back to the field's unlocalised name.
    """
    result = ""
    for step in steps:
        template = lookup(step.module or module, step.string_id)
        if template is None:
            return None
        result = template.replace("%0%", result).replace("%1%", step.seed or "")
    return result

