"""XML pieces every IoT XEP shares: node references, boolean attributes, tokens, stanza errors.

XEP-0323, XEP-0325 and XEP-0326 all address nodes behind a concentrator with the same ``node``
element, carry the same three token attributes, write booleans as ``xs:boolean`` attributes
and answer failures with stanza errors.  Those codecs live here, below the three protocol
packages (``sensordata``, ``control``, ``concentrator``), so none of them imports another.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from collections.abc import Iterable
from dataclasses import dataclass

from slixmpp import Iq

from xiot.iot.model import NodeRef, parse_bool

TOKEN_ATTRIBUTES: tuple[str, ...] = ("serviceToken", "deviceToken", "userToken")

DEFAULT_ERROR_TYPES = {
    "bad-request": "modify",
    "conflict": "wait",
    "not-acceptable": "modify",
}

#: The XEP-0323 0.1/0.2 rejection payload (``rejected`` with ``error`` texts) that legacy
#: devices put in an iq error; read wherever an IoT iq error is reported.
_LEGACY_REJECTED = "{urn:xmpp:iot:sensordata}rejected"


def q(tag: str, ns: str) -> str:
    """The Clark name ``{ns}tag`` ElementTree uses."""
    return f"{{{ns}}}{tag}"


def flag(element: ET.Element, name: str) -> bool:
    """Read an ``xs:boolean`` attribute, default false; garbage counts as false."""
    text = element.get(name)
    if text is None:
        return False
    try:
        return parse_bool(text)
    except ValueError:
        return False


def set_flag(element: ET.Element, name: str, value: bool) -> None:
    """Write a boolean attribute only when true, as the XEPs' examples do."""
    if value:
        element.set(name, "true")
    elif name in element.attrib:
        del element.attrib[name]


def node_to_xml(parent: ET.Element, node: NodeRef, ns: str, tag: str = "node") -> ET.Element:
    """Append a ``node`` element (``nodeId``, ``sourceId``, ``cacheType``) to ``parent``."""
    element = ET.SubElement(parent, q(tag, ns), {"nodeId": node.node_id})
    if node.source_id is not None:
        element.set("sourceId", node.source_id)
    if node.cache_type is not None:
        element.set("cacheType", node.cache_type)
    return element


def node_from_xml(element: ET.Element) -> NodeRef:
    """Read a node reference; ``id`` is accepted for ``nodeId`` (XEP-0326 responses use it)."""
    return NodeRef(
        element.get("nodeId") or element.get("id") or "",
        element.get("sourceId"),
        element.get("cacheType"),
    )


def nodes_from_xml(parent: ET.Element, ns: str) -> tuple[NodeRef, ...]:
    return tuple(node_from_xml(n) for n in parent.findall(q("node", ns)))


def tokens_from_xml(element: ET.Element) -> dict[str, str]:
    """The token attributes present on a request element."""
    return {t: element.get(t, "") for t in TOKEN_ATTRIBUTES if element.get(t) is not None}


def error_reply(
    iq: Iq,
    condition: str,
    text: str | None = None,
    etype: str | None = None,
    extensions: Iterable[ET.Element] = (),
) -> Iq:
    """Build an iq error answering ``iq`` with a standard condition and optional extensions."""
    reply = iq.reply(clear=True)
    reply["type"] = "error"
    reply["error"]["type"] = etype or DEFAULT_ERROR_TYPES.get(condition, "cancel")
    reply["error"]["condition"] = condition
    if text:
        reply["error"]["text"] = text
    for extension in extensions:
        reply["error"].xml.append(extension)
    return reply


@dataclass(frozen=True, slots=True)
class StanzaErrorInfo:
    """The parts of an iq error we report: condition, text and the legacy payload's texts."""

    condition: str | None
    text: str | None
    legacy_texts: tuple[str, ...] = ()

    def describe(self) -> str:
        parts = [p for p in (self.condition, self.text, *self.legacy_texts) if p]
        return ": ".join(parts) if parts else "unspecified error"


def error_info(iq: Iq) -> StanzaErrorInfo:
    """Extract what an iq error says, including a 0.1/0.2 ``rejected`` payload."""
    error_el = iq.xml.find("{jabber:client}error")
    condition = iq["error"]["condition"] or None if error_el is not None else None
    text = iq["error"]["text"] or None if error_el is not None else None
    rejected = iq.xml.find(_LEGACY_REJECTED)
    legacy: tuple[str, ...] = ()
    if rejected is not None:
        legacy = tuple((e.text or "").strip() for e in rejected if e.tag.endswith("}error"))
    return StanzaErrorInfo(condition, text, legacy)
