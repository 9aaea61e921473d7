"""The client side of XEP-0326: browse a concentrator's data sources and nodes.

Every operation takes the operator's ``Session`` and waits through ``session.guard``, so a
stream that drops mid-question raises ``ConnectionLost`` (exit 4) instead of waiting out the
timeout.  A refusal raises ``RemoteError``, silence ``Timeout``.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import TYPE_CHECKING

from slixmpp import JID
from slixmpp.exceptions import IqError, IqTimeout

from xiot.errors import RemoteError, Timeout
from xiot.iot.concentrator.model import DataSource, NodeInfo
from xiot.iot.concentrator.stanzas import NS, q
from xiot.iot.concentrator.wire import (
    bool_text,
    data_source_from_xml,
    node_info_from_xml,
    remote_error,
    response_failure,
)
from xiot.iot.elements import node_to_xml
from xiot.iot.model import NodeRef
from xiot.xmpp.forms import DataForm, find_form, parse_form

if TYPE_CHECKING:
    from xiot.xmpp.session import Session


async def _query(
    owner: Session,
    jid: JID | str,
    operation: str,
    attributes: Mapping[str, str | None] | None = None,
    fill: Callable[[ET.Element], object] | None = None,
    timeout: float = 10.0,
) -> ET.Element:
    """Send ``<operation>`` in an iq get and return its ``operationResponse`` element."""
    iq = owner.client.make_iq_get(ito=JID(jid))
    request = iq[f"iot_c_{operation}"].xml
    for name, value in (attributes or {}).items():
        if value is not None:
            request.set(name, value)
    if fill is not None:
        fill(request)
    try:
        result = await owner.guard(iq.send(timeout=timeout))
    except IqError as exc:
        raise remote_error(jid, operation, exc.iq) from exc
    except IqTimeout as exc:
        raise Timeout(f"{jid} did not answer {operation} within {timeout:g} s") from exc
    response = result.xml.find(q(f"{operation}Response"))
    code = response_failure(response)
    if response is None or code is not None:
        reason = code or "no response element"
        raise RemoteError(f"{jid} failed {operation}: {reason}", condition=code)
    return response


def _flags(parameters: bool, messages: bool) -> dict[str, str | None]:
    return {
        "parameters": "true" if parameters else None,
        "messages": "true" if messages else None,
    }


def _node_attributes(node: NodeRef) -> dict[str, str | None]:
    return {"nodeId": node.node_id, "sourceId": node.source_id, "cacheType": node.cache_type}


async def get_capabilities(
    owner: Session, jid: JID | str, timeout: float = 10.0
) -> tuple[str, ...]:
    """The operations the concentrator supports."""
    response = await _query(owner, jid, "getCapabilities", timeout=timeout)
    return tuple((v.text or "").strip() for v in response.findall(q("value")))


async def get_all_data_sources(
    owner: Session, jid: JID | str, timeout: float = 10.0
) -> tuple[DataSource, ...]:
    """Every data source, flattened."""
    response = await _query(owner, jid, "getAllDataSources", timeout=timeout)
    return tuple(data_source_from_xml(e) for e in response.findall(q("dataSource")))


async def get_root_data_sources(
    owner: Session, jid: JID | str, timeout: float = 10.0
) -> tuple[DataSource, ...]:
    """The top-level data sources."""
    response = await _query(owner, jid, "getRootDataSources", timeout=timeout)
    return tuple(data_source_from_xml(e) for e in response.findall(q("dataSource")))


async def get_child_data_sources(
    owner: Session, jid: JID | str, source_id: str, timeout: float = 10.0
) -> tuple[DataSource, ...]:
    """The data sources below ``source_id``."""
    response = await _query(
        owner, jid, "getChildDataSources", {"sourceId": source_id}, timeout=timeout
    )
    return tuple(data_source_from_xml(e) for e in response.findall(q("dataSource")))


async def contains_node(
    owner: Session, jid: JID | str, node: NodeRef | str, timeout: float = 10.0
) -> bool:
    """Whether the concentrator has (and lets us see) ``node``."""
    ref = NodeRef.coerce(node)
    response = await _query(owner, jid, "containsNode", _node_attributes(ref), timeout=timeout)
    return bool_text(response.text)


async def contains_nodes(
    owner: Session, jid: JID | str, nodes: Sequence[NodeRef | str], timeout: float = 10.0
) -> tuple[bool, ...]:
    """One answer per node, in the order asked."""
    refs = [NodeRef.coerce(n) for n in nodes]
    response = await _query(
        owner, jid, "containsNodes", fill=lambda el: _append_nodes(el, refs), timeout=timeout
    )
    return tuple(bool_text(v.text) for v in response.findall(q("value")))


def _append_nodes(element: ET.Element, nodes: Iterable[NodeRef]) -> None:
    for node in nodes:
        node_to_xml(element, node, NS)


async def get_node(
    owner: Session,
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
    response = await _query(owner, jid, "getNode", attributes, timeout=timeout)
    info = node_info_from_xml(response)
    return info if info.node.node_id else _with_node(info, ref)


def _with_node(info: NodeInfo, ref: NodeRef) -> NodeInfo:
    """Some responses omit the id; fill in the one we asked for."""
    fields = {name: getattr(info, name) for name in NodeInfo.__slots__}
    return NodeInfo(**{**fields, "node": ref})


async def get_nodes(
    owner: Session,
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
        owner,
        jid,
        "getNodes",
        _flags(parameters, messages),
        fill=lambda el: _append_nodes(el, refs),
        timeout=timeout,
    )
    return _node_list(response)


def _node_list(response: ET.Element) -> tuple[NodeInfo, ...]:
    return tuple(node_info_from_xml(e) for e in response.findall(q("node")))


async def get_all_nodes(
    owner: Session,
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
            ET.SubElement(element, q("onlyIfDerivedFrom")).text = type_name

    attributes = {"sourceId": source_id, **_flags(parameters, messages)}
    response = await _query(owner, jid, "getAllNodes", attributes, fill, timeout)
    return _node_list(response)


async def get_root_nodes(
    owner: Session, jid: JID | str, source_id: str, *, timeout: float = 10.0
) -> tuple[NodeInfo, ...]:
    """The top-level nodes of a data source."""
    response = await _query(owner, jid, "getRootNodes", {"sourceId": source_id}, timeout=timeout)
    return _node_list(response)


async def get_child_nodes(
    owner: Session, jid: JID | str, node: NodeRef | str, *, timeout: float = 10.0
) -> tuple[NodeInfo, ...]:
    """The nodes directly below ``node``."""
    attributes = _node_attributes(NodeRef.coerce(node))
    response = await _query(owner, jid, "getChildNodes", attributes, timeout=timeout)
    return _node_list(response)


async def get_node_parameters_for_edit(
    owner: Session, jid: JID | str, node: NodeRef | str, *, timeout: float = 10.0
) -> DataForm:
    """The node-parameter form (how the concentrator talks to the node), as a typed form."""
    attributes = _node_attributes(NodeRef.coerce(node))
    response = await _query(owner, jid, "getNodeParametersForEdit", attributes, timeout=timeout)
    form = find_form(response)
    if form is None:
        raise RemoteError(f"{jid} answered getNodeParametersForEdit without a form")
    return parse_form(form)
