"""XEP-0326 subset: client functions against ConcentratorServer's handlers, legacy errors."""

from __future__ import annotations

import asyncio
from datetime import datetime

import pytest

from tests.unit.iot.harness import Peer, pump, settle
from xiot.errors import RemoteError
from xiot.iot.concentrator import client as cc
from xiot.iot.concentrator import device as conc_device
from xiot.iot.concentrator import stanzas as conc_stanzas
from xiot.iot.concentrator.model import DataSource, NodeInfo, NodeMessage
from xiot.iot.model import ControlParameter, NodeRef

JID = "concentrator@example.org/sim"
CHANGED = datetime(2013, 3, 19, 17, 58, 1)
NODES = {
    "MeteringTopology": [
        NodeInfo(NodeRef("Root", "MeteringTopology"), "Namespace.Root", "None", has_children=True),
        NodeInfo(
            NodeRef("Node1", "MeteringTopology"),
            "Namespace.NodeType1",
            "WarningUnsigned",
            is_readable=True,
            is_controllable=True,
            has_commands=True,
            parent_id="Root",
            last_changed=CHANGED,
            parameters=(ControlParameter("Address", "int", 17),),
            messages=(NodeMessage("Battery low.", CHANGED, "Warning", "E1"),),
        ),
    ]
}
SOURCES = [
    DataSource("MeteringTopology", "Metering Topology", True, CHANGED),
    DataSource("MeteringSub", "Sub", False),
]


def run(coro_factory):
    async def scenario():
        client, device = Peer("client@example.org/amr"), Peer(JID)
        conc_device.ConcentratorServer(
            device.xmpp, SOURCES, NODES, children={"MeteringTopology": ["MeteringSub"]}
        )
        task = asyncio.ensure_future(coro_factory(client.session))
        await pump(client, device)
        return await task

    return asyncio.run(scenario())


def test_capabilities_and_sources() -> None:
    capabilities = run(lambda s: cc.get_capabilities(s, JID, 1))
    assert "getNode" in capabilities and "containsNodes" in capabilities
    assert [s.source_id for s in run(lambda s: cc.get_all_data_sources(s, JID, 1))] == [
        "MeteringTopology",
        "MeteringSub",
    ]
    roots = run(lambda s: cc.get_root_data_sources(s, JID, 1))
    assert roots == (SOURCES[0],)
    children = run(lambda s: cc.get_child_data_sources(s, JID, "MeteringTopology", 1))
    assert [s.name for s in children] == ["Sub"]


def test_node_lookup() -> None:
    assert run(lambda s: cc.contains_node(s, JID, NodeRef("Node1", "MeteringTopology"), 1))
    assert run(lambda s: cc.contains_nodes(s, JID, ["Node1", "Ghost", "Root"], 1)) == (
        True,
        False,
        True,
    )
    info = run(lambda s: cc.get_node(s, JID, "Node1", parameters=True, messages=True, timeout=1))
    assert info == NODES["MeteringTopology"][1]
    plain = run(lambda s: cc.get_node(s, JID, "Node1", timeout=1))
    assert plain.parameters == () and plain.state == "WarningUnsigned"
    several = run(lambda s: cc.get_nodes(s, JID, ["Root", "Node1"], timeout=1))
    assert [n.node.node_id for n in several] == ["Root", "Node1"]
    derived = run(
        lambda s: cc.get_all_nodes(
            s, JID, "MeteringTopology", only_if_derived_from=["Namespace.NodeType1"], timeout=1
        )
    )
    assert [n.node.node_id for n in derived] == ["Node1"]
    assert [
        n.node.node_id
        for n in run(lambda s: cc.get_root_nodes(s, JID, "MeteringTopology", timeout=1))
    ] == ["Root"]
    assert [
        n.node.node_id for n in run(lambda s: cc.get_child_nodes(s, JID, "Root", timeout=1))
    ] == ["Node1"]


def test_unknown_node_is_a_remote_error_with_condition() -> None:
    with pytest.raises(RemoteError) as info:
        run(lambda s: cc.get_node(s, JID, "Ghost", timeout=1))
    assert info.value.condition == "item-not-found" and "NotFound" in info.value.message
    with pytest.raises(RemoteError):
        run(lambda s: cc.get_node_parameters_for_edit(s, JID, "Node1", timeout=1))


def test_legacy_response_shapes() -> None:
    """Responses from other implementations: ``id`` for nodeId, result-only errors."""

    async def scenario(answer: str, call):
        client = Peer("client@example.org/amr")
        task = asyncio.ensure_future(call(client.session))
        await settle()
        ident = client.last().get("id")
        client.deliver(answer.format(id=ident))
        return await task

    node_response = (
        "<iq xmlns='jabber:client' type='result' id='{id}' from='c@example.org'>"
        f"<getNodeResponse xmlns='{conc_stanzas.NS}' result='OK' id='Node1' nodeType='T' "
        "state='None' hasChildren='false' isReadable='true' lastChanged='2013-03-19T17:58:01'/>"
        "</iq>"
    )
    info = asyncio.run(
        scenario(node_response, lambda s: cc.get_node(s, "c@example.org", "Node1"))
    )
    assert info.node.node_id == "Node1" and info.is_readable and info.last_changed == CHANGED
    legacy_error = (
        "<iq xmlns='jabber:client' type='error' id='{id}' from='c@example.org'>"
        f"<containsNodeResponse xmlns='{conc_stanzas.NS}' result='InsufficientPrivileges'>"
        "<error var='nodeId'>Access denied.</error></containsNodeResponse></iq>"
    )
    with pytest.raises(RemoteError) as failure:
        asyncio.run(scenario(legacy_error, lambda s: cc.contains_node(s, "c@example.org", "N")))
    assert failure.value.condition == "forbidden" and "Access denied." in failure.value.message
    bad_result = (
        "<iq xmlns='jabber:client' type='result' id='{id}' from='c@example.org'>"
        f"<getCapabilitiesResponse xmlns='{conc_stanzas.NS}' result='NotImplemented'/></iq>"
    )
    with pytest.raises(RemoteError):
        asyncio.run(scenario(bad_result, lambda s: cc.get_capabilities(s, "c@example.org")))
