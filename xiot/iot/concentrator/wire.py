"""XEP-0326 on the wire: data sources, nodes and refusals encoded and decoded.

Pure XML codecs shared by the client (reading responses) and the device (writing them).
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from collections.abc import Mapping
from typing import Any

from slixmpp import JID, Iq

from xiot.errors import RemoteError
from xiot.iot.concentrator.model import DataSource, NodeInfo, NodeMessage
from xiot.iot.concentrator.stanzas import q
from xiot.iot.elements import error_info, node_from_xml
from xiot.iot.model import (
    PARAMETER_TYPES,
    ControlParameter,
    format_bool,
    format_datetime,
    parse_bool,
    parse_datetime,
    parse_value,
)

#: XEP-0326 result codes mapped to the stanza-error condition a modern client expects.
RESULT_CONDITIONS: Mapping[str, str] = {
    "NotFound": "item-not-found",
    "InsufficientPrivileges": "forbidden",
    "Locked": "conflict",
    "NotImplemented": "feature-not-implemented",
    "FormError": "bad-request",
    "OtherError": "undefined-condition",
}


# ---------------------------------------------------------------------------------------------
# Encoding of data sources and nodes
# ---------------------------------------------------------------------------------------------


def optional_bool(element: ET.Element, name: str) -> bool:
    try:
        return parse_bool(element.get(name, "false"))
    except ValueError:
        return False


def _optional_stamp(text: str | None) -> Any:
    if not text:
        return None
    try:
        return parse_datetime(text)
    except ValueError:
        return None


def data_source_from_xml(element: ET.Element) -> DataSource:
    return DataSource(
        source_id=element.get("sourceId", ""),
        name=element.get("name"),
        has_children=optional_bool(element, "hasChildren"),
        last_changed=_optional_stamp(element.get("lastChanged")),
    )


def data_source_to_xml(parent: ET.Element, source: DataSource) -> ET.Element:
    element = ET.SubElement(parent, q("dataSource"), {"sourceId": source.source_id})
    if source.name is not None:
        element.set("name", source.name)
    element.set("hasChildren", format_bool(source.has_children))
    if source.last_changed is not None:
        element.set("lastChanged", format_datetime(source.last_changed))
    return element


_NODE_BOOLS = (
    ("hasChildren", "has_children"),
    ("isReadable", "is_readable"),
    ("isControllable", "is_controllable"),
    ("hasCommands", "has_commands"),
)
_NODE_TEXTS = (
    ("nodeType", "node_type"),
    ("state", "state"),
    ("parentId", "parent_id"),
    ("displayName", "display_name"),
)


def node_info_from_xml(element: ET.Element) -> NodeInfo:
    """Parse a ``node`` (or ``getNodeResponse``) element with its parameters and messages."""
    values: dict[str, Any] = {attr: element.get(xml) for xml, attr in _NODE_TEXTS}
    values.update({attr: optional_bool(element, xml) for xml, attr in _NODE_BOOLS})
    parameters = []
    messages = []
    for child in element:
        local = child.tag.rsplit("}", 1)[-1]
        if local in PARAMETER_TYPES and child.get("value") is not None:
            parameters.append(_parameter_from_xml(local, child))
        elif local == "message":
            messages.append(_message_from_xml(child))
    return NodeInfo(
        node=node_from_xml(element),
        last_changed=_optional_stamp(element.get("lastChanged")),
        parameters=tuple(p for p in parameters if p is not None),
        messages=tuple(messages),
        **values,
    )


def _parameter_from_xml(kind: str, element: ET.Element) -> ControlParameter | None:
    """A node parameter; ``id`` is the machine name, ``name`` its label (used if id is absent)."""
    try:
        value = parse_value(kind, element.get("value", ""))
    except ValueError:
        return ControlParameter(
            element.get("id") or element.get("name", ""), "string", element.get("value", "")
        )
    return ControlParameter(element.get("id") or element.get("name", ""), kind, value)


def _message_from_xml(element: ET.Element) -> NodeMessage:
    return NodeMessage(
        text=(element.text or "").strip(),
        timestamp=_optional_stamp(element.get("timestamp")),
        type=element.get("type"),
        event_id=element.get("eventId"),
    )


def node_info_to_xml(
    element: ET.Element, info: NodeInfo, parameters: bool = False, messages: bool = False
) -> ET.Element:
    """Write a node's attributes (and optionally parameters and messages) onto ``element``."""
    element.set("nodeId", info.node.node_id)
    for xml_name, value in (("sourceId", info.node.source_id), ("cacheType", info.node.cache_type)):
        if value is not None:
            element.set(xml_name, value)
    for xml_name, attr in _NODE_TEXTS:
        if getattr(info, attr) is not None:
            element.set(xml_name, getattr(info, attr))
    for xml_name, attr in _NODE_BOOLS:
        element.set(xml_name, format_bool(getattr(info, attr)))
    if info.last_changed is not None:
        element.set("lastChanged", format_datetime(info.last_changed))
    if parameters:
        for p in info.parameters:
            ET.SubElement(element, q(p.type), {"id": p.name, "name": p.name, "value": p.lexical})
    if messages:
        for m in info.messages:
            _message_to_xml(element, m)
    return element


def _message_to_xml(parent: ET.Element, message: NodeMessage) -> None:
    element = ET.SubElement(parent, q("message"))
    if message.timestamp is not None:
        element.set("timestamp", format_datetime(message.timestamp))
    if message.type is not None:
        element.set("type", message.type)
    if message.event_id is not None:
        element.set("eventId", message.event_id)
    element.text = message.text


# ---------------------------------------------------------------------------------------------
# Result codes and refusals
# ---------------------------------------------------------------------------------------------


def response_failure(response: ET.Element | None) -> str | None:
    """The non-OK ``result`` code of an ``XResponse``, if any."""
    if response is None:
        return None
    code = response.get("result")
    return code if code not in (None, "OK") else None


def remote_error(jid: JID | str, operation: str, iq: Iq) -> RemoteError:
    """What an iq error answering ``operation`` means: a legacy result code or a condition."""
    info = error_info(iq)
    response = iq.xml.find(q(f"{operation}Response"))
    code = response_failure(response)
    texts = (
        [] if response is None else [(e.text or "").strip() for e in response.findall(q("error"))]
    )
    # A legacy code wins: slixmpp synthesises a feature-not-implemented condition when an
    # error iq carries no <error> element, so the stanza condition may be invented.
    condition = RESULT_CONDITIONS.get(code, code) if code else info.condition
    if not code and condition in ("feature-not-implemented", "service-unavailable"):
        return RemoteError(f"{jid} does not act as a concentrator (it answered {operation} "
                           f"with {condition})",
                           "XEP-0326 browsing needs a gateway; read plain devices directly",
                           condition=condition)
    seen: dict[str, str] = {}
    for part in (code, info.text, *texts):  # the same text often comes twice
        cleaned = (part or "").strip()
        if cleaned:
            seen.setdefault(cleaned.rstrip(".").lower(), cleaned)
    detail = "; ".join(seen.values()) or info.describe()
    return RemoteError(f"{jid} refused {operation}: {detail}", condition=condition)


def bool_text(text: str | None) -> bool:
    """An ``xs:boolean`` element text; anything unreadable is false."""
    try:
        return parse_bool(text or "false")
    except ValueError:
        return False
