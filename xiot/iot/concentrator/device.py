"""The device side of XEP-0326: answer browsing requests from in-memory data.

Used by the simulated gateway; it takes the slixmpp client the device runs on.  Every refusal
is sent both ways at once (the legacy ``result`` code and a stanza-error condition), so old and
new clients understand it.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

from slixmpp import Iq
from slixmpp.xmlstream.handler import Callback
from slixmpp.xmlstream.matcher import MatchXPath

from xiot.iot.concentrator.model import DataSource, NodeInfo
from xiot.iot.concentrator.stanzas import NS, OPERATIONS, q
from xiot.iot.concentrator.wire import (
    RESULT_CONDITIONS,
    data_source_to_xml,
    node_info_to_xml,
    optional_bool,
)
from xiot.iot.elements import error_reply, node_from_xml
from xiot.iot.model import NodeRef, format_bool


class _Refusal(Exception):
    def __init__(self, code: str, text: str) -> None:
        super().__init__(text)
        self.code = code
        self.text = text


class ConcentratorServer:
    """The concentrator side of the read-only subset, answering from in-memory data.

    ``sources`` are the data sources; ``children`` maps a source id to its child source ids
    (sources that are nobody's child are roots).  ``nodes`` maps a source id to its nodes;
    a node's children are the nodes whose ``parent_id`` is its id.  ``node_form(node)``
    returns the node-parameter form element, or None if the node has none.
    """

    def __init__(
        self,
        xmpp: Any,
        sources: Sequence[DataSource],
        nodes: Mapping[str, Sequence[NodeInfo]],
        *,
        children: Mapping[str, Sequence[str]] | None = None,
        node_form: Callable[[NodeInfo], ET.Element | None] | None = None,
    ) -> None:
        self.xmpp = xmpp
        self.sources = {s.source_id: s for s in sources}
        self.children = {k: tuple(v) for k, v in (children or {}).items()}
        self.nodes = {k: tuple(v) for k, v in nodes.items()}
        self.node_form = node_form
        self._name = f"xiot-concentrator-{id(self)}"
        xmpp.register_handler(
            Callback(self._name, MatchXPath(f"{{jabber:client}}iq/{{{NS}}}*"), self._on_iq)
        )

    def close(self) -> None:
        self.xmpp.remove_handler(self._name)

    def _on_iq(self, iq: Iq) -> None:
        if iq["type"] not in ("get", "set"):
            return
        request = next(iter(iq.xml), None)
        if request is None:
            return
        operation = request.tag.rsplit("}", 1)[-1]
        handler = getattr(self, f"_op_{operation}", None)
        if handler is None:
            error_reply(iq, "feature-not-implemented", f"{operation} is not supported.").send()
            return
        reply = iq.reply(clear=True)
        response = ET.Element(q(f"{operation}Response"), {"result": "OK"})
        try:
            handler(request, response)
        except _Refusal as refusal:
            self._refuse(iq, operation, refusal)
            return
        reply.append(response)
        reply.send()

    def _refuse(self, iq: Iq, operation: str, refusal: _Refusal) -> None:
        response = ET.Element(q(f"{operation}Response"), {"result": refusal.code})
        ET.SubElement(response, q("error")).text = refusal.text
        condition = RESULT_CONDITIONS.get(refusal.code, "undefined-condition")
        reply = error_reply(iq, condition, refusal.text)
        reply.append(response)
        reply.send()

    # -- lookups -----------------------------------------------------------------------------

    def _all_nodes(self) -> Iterable[NodeInfo]:
        for infos in self.nodes.values():
            yield from infos

    def _find(self, ref: NodeRef) -> NodeInfo | None:
        return next((n for n in self._all_nodes() if ref.matches(n.node)), None)

    def _require(self, ref: NodeRef) -> NodeInfo:
        info = self._find(ref)
        if info is None:
            raise _Refusal("NotFound", f"Node not found: {ref.node_id}.")
        return info

    def _require_source(self, source_id: str | None) -> str:
        if source_id is None or source_id not in self.sources:
            raise _Refusal("NotFound", f"Data source not found: {source_id}.")
        return source_id

    # -- operations (one method per request element) -----------------------------------------

    def _op_getCapabilities(self, _request: ET.Element, response: ET.Element) -> None:
        for name in OPERATIONS:
            ET.SubElement(response, q("value")).text = name

    def _op_getAllDataSources(self, _request: ET.Element, response: ET.Element) -> None:
        for source in self.sources.values():
            data_source_to_xml(response, source)

    def _op_getRootDataSources(self, _request: ET.Element, response: ET.Element) -> None:
        nested = {c for kids in self.children.values() for c in kids}
        for source in self.sources.values():
            if source.source_id not in nested:
                data_source_to_xml(response, source)

    def _op_getChildDataSources(self, request: ET.Element, response: ET.Element) -> None:
        source_id = self._require_source(request.get("sourceId"))
        for child in self.children.get(source_id, ()):
            if child in self.sources:
                data_source_to_xml(response, self.sources[child])

    def _op_containsNode(self, request: ET.Element, response: ET.Element) -> None:
        response.text = format_bool(self._find(node_from_xml(request)) is not None)

    def _op_containsNodes(self, request: ET.Element, response: ET.Element) -> None:
        for element in request.findall(q("node")):
            found = self._find(node_from_xml(element)) is not None
            ET.SubElement(response, q("value")).text = format_bool(found)

    def _op_getNode(self, request: ET.Element, response: ET.Element) -> None:
        info = self._require(node_from_xml(request))
        node_info_to_xml(response, info, *_wanted_details(request))

    def _op_getNodes(self, request: ET.Element, response: ET.Element) -> None:
        details = _wanted_details(request)
        for element in request.findall(q("node")):
            info = self._require(node_from_xml(element))
            node_info_to_xml(ET.SubElement(response, q("node")), info, *details)

    def _op_getAllNodes(self, request: ET.Element, response: ET.Element) -> None:
        source_id = self._require_source(request.get("sourceId"))
        types = {(e.text or "").strip() for e in request.findall(q("onlyIfDerivedFrom"))}
        for info in self.nodes.get(source_id, ()):
            if not types or info.node_type in types:
                node_info_to_xml(
                    ET.SubElement(response, q("node")), info, *_wanted_details(request)
                )

    def _op_getRootNodes(self, request: ET.Element, response: ET.Element) -> None:
        source_id = self._require_source(request.get("sourceId"))
        for info in self.nodes.get(source_id, ()):
            if info.parent_id is None:
                node_info_to_xml(ET.SubElement(response, q("node")), info)

    def _op_getChildNodes(self, request: ET.Element, response: ET.Element) -> None:
        parent = self._require(node_from_xml(request))
        for info in self._all_nodes():
            if info.parent_id == parent.node.node_id:
                node_info_to_xml(ET.SubElement(response, q("node")), info)

    def _op_getNodeParametersForEdit(self, request: ET.Element, response: ET.Element) -> None:
        info = self._require(node_from_xml(request))
        form = self.node_form(info) if self.node_form is not None else None
        if form is None:
            raise _Refusal("NotImplemented", f"Node {info.node.node_id} has no parameters.")
        response.append(form)


def _wanted_details(request: ET.Element) -> tuple[bool, bool]:
    return optional_bool(request, "parameters"), optional_bool(request, "messages")
