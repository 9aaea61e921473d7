"""Refusals from devices built on slixmpp's old xep_0325 plugin name the right parameter.

That plugin writes ``<error var='Output'>`` whatever failed and puts the real parameter in
``<parameter name>`` and the real node in ``<node nodeId>``; xiot reports those.
"""

from __future__ import annotations

import asyncio

import pytest

from tests.unit.iot import vectors as v
from tests.unit.iot.harness import Peer, settle
from xiot.iot.control import client as ctl_client
from xiot.iot.model import ControlParameter, ControlResult

PRIMARY = "primary@example.org/amr"


def refusal(answer: str, **options) -> ControlResult:  # type: ignore[no-untyped-def]
    """Set Setpoint on the legacy device, which answers ``answer``; the result."""

    async def scenario() -> ControlResult:
        operator = Peer(PRIMARY)
        task = asyncio.ensure_future(ctl_client.set_parameters(
            operator.session, v.LEGACY, [ControlParameter("Setpoint", "double", 30.0)],
            timeout=1, **options))
        await settle()
        operator.deliver(answer.format(id=operator.last().get("id")))
        return await task

    return asyncio.run(scenario())


def test_an_unknown_parameter_is_named_not_output() -> None:
    result = refusal(v.C20_UNKNOWN_PARAMETER)
    assert not result.ok and result.condition == "NotFound"
    assert result.failed_parameters == ("Setpoint",)
    assert "Output" not in result.error and "Setpoint: Invalid field Setpoint" in result.error


def test_an_unknown_node_is_a_node_failure_not_a_parameter_failure() -> None:
    result = refusal(v.C20_UNKNOWN_NODE, nodes=["Relay9"])
    assert result.failed_parameters == ()
    assert result.node == "Relay9"
    assert result.error == "node Relay9: Invalid nodeId Relay9"


def test_the_device_names_the_node_and_parameter_that_failed() -> None:
    result = refusal(v.C20_DEVICE_FAILED, nodes=["Relay1", "Relay2"])
    assert result.failed_parameters == ("Setpoint",)
    assert result.node == "Relay2"  # of the two addressed, the one the device names
    assert result.error == "Setpoint on node Relay2: Value out of range"


def test_a_legacy_timeout_names_the_node() -> None:
    result = refusal(v.C20_TIMEOUT, nodes=["Relay1"])
    assert result.failed_parameters == () and result.node == "Relay1"
    assert result.condition == "OtherError" and result.error == "node Relay1: Timeout."


@pytest.mark.parametrize("vector", [v.C20_UNKNOWN_PARAMETER, v.C20_DEVICE_FAILED])
def test_the_same_payload_in_an_iq_result_reads_the_same(vector: str) -> None:
    """The plugin also sends a failed setResponse in an iq result (responseCode not OK)."""
    result = refusal(vector.replace("type='error'", "type='result'"))
    assert not result.ok and result.failed_parameters == ("Setpoint",)
    assert "Output" not in result.error


def test_var_is_believed_when_nothing_else_names_the_parameter() -> None:
    """A 0.1 device that only writes <error var> still gets its parameter named."""
    plain = v.C20_UNKNOWN_PARAMETER.replace("<parameter name='Setpoint' />", "").replace(
        "var='Output'", "var='Setpoint'")
    result = refusal(plain)
    assert result.failed_parameters == ("Setpoint",)
    assert result.error == "Setpoint: Invalid field Setpoint"
