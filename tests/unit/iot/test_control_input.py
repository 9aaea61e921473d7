"""Control input no device should see: non-finite numbers and empty node ids.

The client refuses them before anything is sent (``UsageError``, exit 2), whichever way the
value got its type: given with it, read from the device's form, or guessed from the literal.
"""

from __future__ import annotations

import asyncio

import pytest

from tests.unit.iot import vectors as v
from tests.unit.iot.harness import Peer, pump, settle
from xiot.errors import UsageError
from xiot.iot.actions import Assignment, control_form, control_set
from xiot.iot.control import client as ctl_client
from xiot.iot.control import device as ctl_device
from xiot.iot.model import ControlParameter, ParameterSpec
from xiot.xmpp.jid import parse_jid

PRIMARY = "primary@example.org/amr"
THERMOSTAT = "thermostat@example.org/sim"
NON_FINITE = ["NaN", "nan", "inf", "-inf", "INF", "-INF", "1e999"]


def refused(coro_factory) -> tuple[UsageError, list]:  # type: ignore[no-untyped-def,type-arg]
    """Run ``coro_factory(session)`` on a fresh operator; the error and what it sent."""

    async def scenario() -> tuple[UsageError, list]:  # type: ignore[type-arg]
        operator = Peer(PRIMARY)
        with pytest.raises(UsageError) as info:
            await coro_factory(operator.session)
        await settle()
        return info.value, operator.take()

    return asyncio.run(scenario())


@pytest.mark.parametrize("text", NON_FINITE)
@pytest.mark.parametrize("use_message", [False, True], ids=["iq", "message"])
def test_set_parameters_refuses_non_finite_numbers(text: str, use_message: bool) -> None:
    error, sent = refused(lambda s: ctl_client.set_parameters(
        s, THERMOSTAT, [ControlParameter("Setpoint", "double", text)],
        use_message=use_message, timeout=1))
    assert error.exit_code == 2 and "Setpoint" in error.message and "finite" in error.message
    assert sent == []


@pytest.mark.parametrize("text", ["NaN", "inf", "-inf"])
def test_control_set_refuses_an_explicit_non_finite_double(text: str) -> None:
    """Refused before the device is even looked up (a bare JID would need presence)."""
    error, sent = refused(lambda s: control_set(
        s, parse_jid("thermostat@example.org"), [Assignment.parse(f"Setpoint:double={text}")],
        (), timeout=1))
    assert error.exit_code == 2 and "finite" in error.message
    assert sent == []


def test_a_guessed_double_is_refused_too_when_the_device_has_no_form() -> None:
    """``Setpoint=NaN`` with no form to type it: NaN is guessed a double, then refused."""

    async def scenario() -> tuple[UsageError, list]:  # type: ignore[type-arg]
        operator = Peer(PRIMARY)
        task = asyncio.ensure_future(control_set(
            operator.session, parse_jid(THERMOSTAT), [Assignment.parse("Setpoint=NaN")], (),
            timeout=1))
        await settle()
        get_form = operator.last()
        operator.deliver(
            f"<iq xmlns='jabber:client' type='error' id='{get_form.get('id')}' "
            f"from='{THERMOSTAT}'><error type='cancel'><feature-not-implemented "
            "xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'/></error></iq>")
        with pytest.raises(UsageError) as info:
            await task
        return info.value, operator.take()

    error, sent = asyncio.run(scenario())
    assert "finite" in error.message and sent == []


def test_a_form_typed_double_is_refused() -> None:
    async def scenario() -> tuple[UsageError, list]:  # type: ignore[type-arg]
        operator, device = Peer(PRIMARY), Peer(THERMOSTAT)
        ctl_device.ControlServer(device.xmpp, [ParameterSpec("Setpoint", "double", 21.0)],
                                 lambda params, nodes: None)
        task = asyncio.ensure_future(control_set(
            operator.session, parse_jid(THERMOSTAT), [Assignment.parse("Setpoint=inf")], (),
            timeout=1))
        await pump(operator, device)
        with pytest.raises(UsageError) as info:
            await task
        return info.value, [s for s in operator.take() if s.tag.endswith("iq")]

    error, sent = asyncio.run(scenario())
    assert "finite" in error.message and sent == []


@pytest.mark.parametrize("node", ["", "  "])
def test_an_empty_node_id_is_refused_before_sending(node: str) -> None:
    one = [ControlParameter("Output", "boolean", True)]
    calls = [
        lambda s: ctl_client.set_parameters(s, THERMOSTAT, one, node, timeout=1),
        lambda s: ctl_client.set_parameters(s, THERMOSTAT, one, nodes=["Relay1", node],
                                            use_message=True),
        lambda s: ctl_client.get_form(s, THERMOSTAT, nodes=[node], timeout=1),
        lambda s: ctl_client.submit_form(s, THERMOSTAT, {"Output": True}, nodes=[node],
                                         timeout=1),
        lambda s: control_set(s, parse_jid("gw@example.org"),
                              [Assignment.parse("Output=true")], (node,), timeout=1),
        lambda s: control_form(s, parse_jid("gw@example.org"), (node,), timeout=1),
    ]
    for call in calls:
        error, sent = refused(call)
        assert error.exit_code == 2 and "empty node id" in error.message
        assert sent == []


def test_device_refuses_nan_for_a_double_even_inside_its_range() -> None:
    """NaN compares false with both bounds; only the finiteness check stops it."""
    device = Peer(THERMOSTAT)
    applied: list = []  # type: ignore[type-arg]
    spec = ParameterSpec("Setpoint", "double", 21.0, minimum=5.0, maximum=35.0)
    ctl_device.ControlServer(device.xmpp, [spec], lambda params, nodes: applied.append(params))
    for text in ("NaN", "INF"):
        device.deliver(
            f"<iq xmlns='jabber:client' type='set' id='n' from='{PRIMARY}'>"
            f"<set xmlns='{v.CTRL}'><double name='Setpoint' value='{text}'/></set></iq>")
        reply = device.last()
        assert reply.get("type") == "error"
        param = reply.find(f"{{jabber:client}}error/{{{v.CTRL}}}paramError")
        assert param is not None and param.get("var") == "Setpoint"
    assert applied == []


def test_booleans_are_accepted_as_people_and_tables_write_them():
    from xiot.iot.actions import boolean_text, infer_type

    for word, wire in (("yes", "true"), ("On", "true"), ("1", "true"), ("true", "true"),
                       ("no", "false"), ("OFF", "false"), ("0", "false"), ("false", "false")):
        assert boolean_text(word) == wire
    assert boolean_text("maybe") == "maybe"  # left for the type check to name
    assert infer_type("yes") == "boolean" and infer_type("1") == "int"
