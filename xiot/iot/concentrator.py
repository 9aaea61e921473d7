"""XEP-0326 concentrators (``urn:xmpp:iot:concentrators``, version 0.4): a read-only subset.

A concentrator is one JID in front of many nodes grouped in data sources.  This module covers
what an operator needs to find nodes: capabilities, the data-source tree, node lookup and
node-parameter forms.  Reading and controlling nodes is plain XEP-0323/0325 with ``node``
elements (see ``sensordata.read`` and ``control.set_parameters``).

Unlike 0323/0325, XEP-0326 never moved to standard stanza errors: each ``XResponse`` carries
``result='OK|NotFound|InsufficientPrivileges|Locked|NotImplemented|FormError|OtherError'`` and a
failure is an iq error carrying that response with ``<error var>`` children.  The client
accepts both that and a plain stanza error; the device sends both at once.  Node elements in
responses use ``nodeId`` in the XEP text but ``id`` in some implementations; both are read.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

from slixmpp import JID, Iq
from slixmpp.exceptions import IqError, IqTimeout
from slixmpp.xmlstream import ElementBase, register_stanza_plugin
from slixmpp.xmlstream.handler import Callback
from slixmpp.xmlstream.matcher import MatchXPath

from xiot.errors import RemoteError, Timeout
from xiot.iot.model import (
    PARAMETER_TYPES,
    ControlParameter,
    DataSource,
    NodeInfo,
    NodeMessage,
    NodeRef,
    format_bool,
    format_datetime,
    parse_bool,
    parse_datetime,
    parse_value,
)
from xiot.iot.sensordata import error_info, error_reply, node_from_xml, node_to_xml
from xiot.xmpp.forms import DataForm, find_form, parse_form

NS = "urn:xmpp:iot:concentrators"

#: XEP-0326 result codes mapped to the stanza-error condition a modern client expects.
RESULT_CONDITIONS: Mapping[str, str] = {
    "NotFound": "item-not-found",
    "InsufficientPrivileges": "forbidden",
    "Locked": "conflict",
    "NotImplemented": "feature-not-implemented",
    "FormError": "bad-request",
    "OtherError": "undefined-condition",
}

#: The operations this module's client and server implement.
OPERATIONS: tuple[str, ...] = (
    "getCapabilities",
    "getAllDataSources",
    "getRootDataSources",
    "getChildDataSources",
    "containsNode",
    "containsNodes",
    "getNode",
    "getNodes",
    "getAllNodes",
    "getRootNodes",
    "getChildNodes",
    "getNodeParametersForEdit",
)


def _q(tag: str) -> str:
    return f"{{{NS}}}{tag}"


def _make_request_class(operation: str) -> type[ElementBase]:
    """One tiny ElementBase per operation, so ``iq['iot_c_getNode']`` builds and matches it."""
    return type(
        operation[0].upper() + operation[1:],
        (ElementBase,),
        {"name": operation, "namespace": NS, "plugin_attrib": f"iot_c_{operation}"},
    )


REQUEST_CLASSES: dict[str, type[ElementBase]] = {op: _make_request_class(op) for op in OPERATIONS}


def register_stanzas() -> None:
    """Register request elements on ``Iq`` (idempotent); responses are read as raw XML."""
    for cls in REQUEST_CLASSES.values():
        register_stanza_plugin(Iq, cls)


register_stanzas()


# ---------------------------------------------------------------------------------------------
# Encoding of data sources and nodes
# ---------------------------------------------------------------------------------------------


def _optional_bool(element: ET.Element, name: str) -> bool:
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
        has_children=_optional_bool(element, "hasChildren"),
        last_changed=_optional_stamp(element.get("lastChanged")),
    )


def data_source_to_xml(parent: ET.Element, source: DataSource) -> ET.Element:
    element = ET.SubElement(parent, _q("dataSource"), {"sourceId": source.source_id})
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
    values.update({attr: _optional_bool(element, xml) for xml, attr in _NODE_BOOLS})
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
            ET.SubElement(element, _q(p.type), {"id": p.name, "name": p.name, "value": p.lexical})
    if messages:
        for m in info.messages:
            _message_to_xml(element, m)
    return element


def _message_to_xml(parent: ET.Element, message: NodeMessage) -> None:
    element = ET.SubElement(parent, _q("message"))
    if message.timestamp is not None:
        element.set("timestamp", format_datetime(message.timestamp))
    if message.type is not None:
        element.set("type", message.type)
    if message.event_id is not None:
        element.set("eventId", message.event_id)
    element.text = message.text


# ---------------------------------------------------------------------------------------------
# Client
# ---------------------------------------------------------------------------------------------


def response_failure(response: ET.Element | None) -> str | None:
    """The non-OK ``result`` code of an ``XResponse``, if any."""
    if response is None:
        return None
    code = response.get("result")
    return code if code not in (None, "OK") else None


async def _query(
    xmpp: Any,
    jid: JID | str,
    operation: str,
    attributes: Mapping[str, str | None] | None = None,
    fill: Callable[[ET.Element], object] | None = None,
    timeout: float = 10.0,
) -> ET.Element:
    """Send ``<operation>`` in an iq get and return its ``operationResponse`` element."""
    iq = xmpp.make_iq_get(ito=JID(jid))
    request = iq[f"iot_c_{operation}"].xml
    for name, value in (attributes or {}).items():
        if value is not None:
            request.set(name, value)
    if fill is not None:
        fill(request)
    try:
        result = await iq.send(timeout=timeout)
    except IqError as exc:
        raise _remote_error(jid, operation, exc.iq) from exc
    except IqTimeout as exc:
        raise Timeout(f"{jid} did not answer {operation} within {timeout:g} s") from exc
    response = result.xml.find(_q(f"{operation}Response"))
    code = response_failure(response)
    if response is None or code is not None:
        reason = code or "no response element"
        raise RemoteError(f"{jid} failed {operation}: {reason}", condition=code)
    return response


def _remote_error(jid: JID | str, operation: str, iq: Iq) -> RemoteError:
    info = error_info(iq)
    response = iq.xml.find(_q(f"{operation}Response"))
    code = response_failure(response)
    texts = (
        [] if response is None else [(e.text or "").strip() for e in response.findall(_q("error"))]
    )
    detail = "; ".join(t for t in (code, info.text, *texts) if t) or info.describe()
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


def _flags(parameters: bool, messages: bool) -> dict[str, str | None]:
    return {
        "parameters": "true" if parameters else None,
        "messages": "true" if messages else None,
    }


def _node_attributes(node: NodeRef) -> dict[str, str | None]:
    return {"nodeId": node.node_id, "sourceId": node.source_id, "cacheType": node.cache_type}


async def get_capabilities(xmpp: Any, jid: JID | str, timeout: float = 10.0) -> tuple[str, ...]:
    """The operations the concentrator supports."""
    response = await _query(xmpp, jid, "getCapabilities", timeout=timeout)
    return tuple((v.text or "").strip() for v in response.findall(_q("value")))


async def get_all_data_sources(
    xmpp: Any, jid: JID | str, timeout: float = 10.0
) -> tuple[DataSource, ...]:
    """Every data source, flattened."""
    response = await _query(xmpp, jid, "getAllDataSources", timeout=timeout)
    return tuple(data_source_from_xml(e) for e in response.findall(_q("dataSource")))


async def get_root_data_sources(
    xmpp: Any, jid: JID | str, timeout: float = 10.0
) -> tuple[DataSource, ...]:
    """The top-level data sources."""
    response = await _query(xmpp, jid, "getRootDataSources", timeout=timeout)
    return tuple(data_source_from_xml(e) for e in response.findall(_q("dataSource")))


async def get_child_data_sources(
    xmpp: Any, jid: JID | str, source_id: str, timeout: float = 10.0
) -> tuple[DataSource, ...]:
    """The data sources below ``source_id``."""
    response = await _query(
        xmpp, jid, "getChildDataSources", {"sourceId": source_id}, timeout=timeout
    )
    return tuple(data_source_from_xml(e) for e in response.findall(_q("dataSource")))


async def contains_node(
    xmpp: Any, jid: JID | str, node: NodeRef | str, timeout: float = 10.0
) -> bool:
    """Whether the concentrator has (and lets us see) ``node``."""
    ref = NodeRef.coerce(node)
    response = await _query(xmpp, jid, "containsNode", _node_attributes(ref), timeout=timeout)
    return _bool_text(response.text)


async def contains_nodes(
    xmpp: Any, jid: JID | str, nodes: Sequence[NodeRef | str], timeout: float = 10.0
) -> tuple[bool, ...]:
    """One answer per node, in the order asked."""
    refs = [NodeRef.coerce(n) for n in nodes]
    response = await _query(
        xmpp, jid, "containsNodes", fill=lambda el: _append_nodes(el, refs), timeout=timeout
    )
    return tuple(_bool_text(v.text) for v in response.findall(_q("value")))


def _bool_text(text: str | None) -> bool:
    try:
        return parse_bool(text or "false")
    except ValueError:
        return False


def _append_nodes(element: ET.Element, nodes: Iterable[NodeRef]) -> None:
    for node in nodes:
        node_to_xml(element, node, NS)


async def get_node(
    xmpp: Any,
    jid: JID | str,
    node: NodeRef | str,
    *,
    parameters: bool = False,
    messages: bool = False,
    timeout: float = 10.0,
) -> NodeInfo:
    """Information about one node (``getNodeResponse`` carries the node's attributes)."""
    ref = NodeRef.coerce(node)
    attributes = {**_node_attributes(ref), **_flags(parameters, messages)}
    response = await _query(xmpp, jid, "getNode", attributes, timeout=timeout)
    info = node_info_from_xml(response)
    return info if info.node.node_id else _with_node(info, ref)


def _with_node(info: NodeInfo, ref: NodeRef) -> NodeInfo:
    """Some responses omit the id; fill in the one we asked for."""
    fields = {name: getattr(info, name) for name in NodeInfo.__slots__}
    return NodeInfo(**{**fields, "node": ref})


async def get_nodes(
    xmpp: Any,
    jid: JID | str,
    nodes: Sequence[NodeRef | str],
    *,
    parameters: bool = False,
    messages: bool = False,
    timeout: float = 10.0,
) -> tuple[NodeInfo, ...]:
    """Information about several nodes."""
    refs = [NodeRef.coerce(n) for n in nodes]
    response = await _query(
        xmpp,
        jid,
        "getNodes",
        _flags(parameters, messages),
        fill=lambda el: _append_nodes(el, refs),
        timeout=timeout,
    )
    return _node_list(response)


def _node_list(response: ET.Element) -> tuple[NodeInfo, ...]:
    return tuple(node_info_from_xml(e) for e in response.findall(_q("node")))


async def get_all_nodes(
    xmpp: Any,
    jid: JID | str,
    source_id: str,
    *,
    only_if_derived_from: Sequence[str] = (),
    parameters: bool = False,
    messages: bool = False,
    timeout: float = 10.0,
) -> tuple[NodeInfo, ...]:
    """Every node of a data source, optionally only those derived from given node types."""

    def fill(element: ET.Element) -> None:
        for type_name in only_if_derived_from:
            ET.SubElement(element, _q("onlyIfDerivedFrom")).text = type_name

    attributes = {"sourceId": source_id, **_flags(parameters, messages)}
    response = await _query(xmpp, jid, "getAllNodes", attributes, fill, timeout)
    return _node_list(response)


async def get_root_nodes(
    xmpp: Any, jid: JID | str, source_id: str, *, timeout: float = 10.0
) -> tuple[NodeInfo, ...]:
    """The top-level nodes of a data source."""
    response = await _query(xmpp, jid, "getRootNodes", {"sourceId": source_id}, timeout=timeout)
    return _node_list(response)


async def get_child_nodes(
    xmpp: Any, jid: JID | str, node: NodeRef | str, *, timeout: float = 10.0
) -> tuple[NodeInfo, ...]:
    """The nodes directly below ``node``."""
    attributes = _node_attributes(NodeRef.coerce(node))
    response = await _query(xmpp, jid, "getChildNodes", attributes, timeout=timeout)
    return _node_list(response)


async def get_node_parameters_for_edit(
    xmpp: Any, jid: JID | str, node: NodeRef | str, *, timeout: float = 10.0
) -> DataForm:
    """The node-parameter form (how the concentrator talks to the node), as a typed form."""
    attributes = _node_attributes(NodeRef.coerce(node))
    response = await _query(xmpp, jid, "getNodeParametersForEdit", attributes, timeout=timeout)
    form = find_form(response)
    if form is None:
        raise RemoteError(f"{jid} answered getNodeParametersForEdit without a form")
    return parse_form(form)


# ---------------------------------------------------------------------------------------------
# Device
# ---------------------------------------------------------------------------------------------


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
        response = ET.Element(_q(f"{operation}Response"), {"result": "OK"})
        try:
            handler(request, response)
        except _Refusal as refusal:
            self._refuse(iq, operation, refusal)
            return
        reply.append(response)
        reply.send()

    def _refuse(self, iq: Iq, operation: str, refusal: _Refusal) -> None:
        response = ET.Element(_q(f"{operation}Response"), {"result": refusal.code})
        ET.SubElement(response, _q("error")).text = refusal.text
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
            ET.SubElement(response, _q("value")).text = name

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
        for element in request.findall(_q("node")):
            found = self._find(node_from_xml(element)) is not None
            ET.SubElement(response, _q("value")).text = format_bool(found)

    def _op_getNode(self, request: ET.Element, response: ET.Element) -> None:
        info = self._require(node_from_xml(request))
        node_info_to_xml(response, info, *_wanted_details(request))

    def _op_getNodes(self, request: ET.Element, response: ET.Element) -> None:
        details = _wanted_details(request)
        for element in request.findall(_q("node")):
            info = self._require(node_from_xml(element))
            node_info_to_xml(ET.SubElement(response, _q("node")), info, *details)

    def _op_getAllNodes(self, request: ET.Element, response: ET.Element) -> None:
        source_id = self._require_source(request.get("sourceId"))
        types = {(e.text or "").strip() for e in request.findall(_q("onlyIfDerivedFrom"))}
        for info in self.nodes.get(source_id, ()):
            if not types or info.node_type in types:
                node_info_to_xml(
                    ET.SubElement(response, _q("node")), info, *_wanted_details(request)
                )

    def _op_getRootNodes(self, request: ET.Element, response: ET.Element) -> None:
        source_id = self._require_source(request.get("sourceId"))
        for info in self.nodes.get(source_id, ()):
            if info.parent_id is None:
                node_info_to_xml(ET.SubElement(response, _q("node")), info)

    def _op_getChildNodes(self, request: ET.Element, response: ET.Element) -> None:
        parent = self._require(node_from_xml(request))
        for info in self._all_nodes():
            if info.parent_id == parent.node.node_id:
                node_info_to_xml(ET.SubElement(response, _q("node")), info)

    def _op_getNodeParametersForEdit(self, request: ET.Element, response: ET.Element) -> None:
        info = self._require(node_from_xml(request))
        form = self.node_form(info) if self.node_form is not None else None
        if form is None:
            raise _Refusal("NotImplemented", f"Node {info.node.node_id} has no parameters.")
        response.append(form)


def _wanted_details(request: ET.Element) -> tuple[bool, bool]:
    return _optional_bool(request, "parameters"), _optional_bool(request, "messages")
