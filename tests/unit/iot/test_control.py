"""XEP-0325: set vectors, error and form vectors, device validation, client/device pair."""

from __future__ import annotations

import asyncio
import xml.etree.ElementTree as ET

import pytest

from tests.unit.iot import vectors as v
from tests.unit.iot.harness import Peer, pump, q, settle
from xiot.errors import RemoteError, UsageError
from xiot.iot.control import client as ctl_client
from xiot.iot.control import device as ctl_device
from xiot.iot.control import wire as ctl_wire
from xiot.iot.model import ControlParameter, ControlResult, NodeRef, ParameterSpec
from xiot.xmpp import forms

PRIMARY = "primary@example.org/amr"


def parse_iq(peer: Peer, xml: str) -> object:
    return peer.xmpp._build_stanza(ET.fromstring(xml))


@pytest.mark.parametrize(
    ("kind", "name", "value"),
    [
        ("int", "Output", "50000"),
        ("long", "Output", "500000000000000"),
        ("string", "Row1", "Temperature: 21.4 °C"),
        ("double", "4-20mA", "8.192"),
        ("date", "TariffStartDate", "2013-05-01"),
        ("time", "Alarm Time", "08:00:00"),
        ("dateTime", "Alarm Time", "2013-04-02T08:00:00"),
        ("duration", "Alarm Duration", "PT3M30S"),
        ("color", "Color", "3399FF"),
        ("boolean", "Output", "true"),
    ],
)
def test_each_parameter_type_round_trips(kind: str, name: str, value: str) -> None:
    parameter = ControlParameter(name, kind, value)
    element = ctl_wire.build_set(ET.Element(q(v.CTRL, "set")), [parameter])
    child = next(iter(element))
    assert (child.tag, child.get("name"), child.get("value")) == (q(v.CTRL, kind), name, value)
    (parsed,) = ctl_wire.parse_set(element).parameters
    assert (parsed.name, parsed.type, parsed.lexical) == (name, kind, value)


def test_order_and_nodes_are_kept() -> None:
    params = [
        ControlParameter("FadeTimeMilliseconds", "int", 500),
        ControlParameter("OutputPercent", "int", 10),
    ]
    nodes = [NodeRef(f"DigitalOutput{i}") for i in range(1, 5)]
    element = ctl_wire.build_set(ET.Element(q(v.CTRL, "set")), params, nodes)
    parsed = ctl_wire.parse_set(ET.fromstring(ET.tostring(element)))
    assert [p.name for p in parsed.parameters] == ["FadeTimeMilliseconds", "OutputPercent"]
    assert parsed.nodes == tuple(nodes)


def test_parse_set_names_bad_parameters() -> None:
    bad_value = f"<set xmlns='{v.CTRL}'><int name='Output' value='lots'/></set>"
    with pytest.raises(ctl_wire.ParameterError) as info:
        ctl_wire.parse_set(ET.fromstring(bad_value))
    assert info.value.name == "Output"
    unknown = f"<set xmlns='{v.CTRL}'><float name='X' value='1'/></set>"
    with pytest.raises(ctl_wire.ParameterError):
        ctl_wire.parse_set(ET.fromstring(unknown))


def test_control_failure_vector_names_the_parameter() -> None:
    peer = Peer(PRIMARY)
    result = ctl_wire.control_error(parse_iq(peer, v.C3_ERROR))
    assert not result.ok and result.failed_parameters == ("Output",)
    assert result.condition == "bad-request" and "Invalid parameter type." in result.error
    tolerant = v.C3_ERROR.replace("var='Output'", "n='Output'")
    assert ctl_wire.control_error(parse_iq(peer, tolerant)).failed_parameters == ("Output",)


def test_restricted_and_legacy_responses() -> None:
    peer = Peer(PRIMARY)
    restricted = f"""<iq xmlns='jabber:client' type='result' id='r' from='plc@example.org'>
      <setResponse xmlns='{v.CTRL}'>
        <parameter name='DigitalOutput1'/><parameter name='DigitalOutput2'/>
        <node nodeId='DigitalOutput2'/><node nodeId='DigitalOutput3'/>
      </setResponse></iq>"""
    result = ctl_wire.control_success(parse_iq(peer, restricted))
    assert result.ok and result.applied_parameters == ("DigitalOutput1", "DigitalOutput2")
    assert [n.node_id for n in result.applied_nodes] == ["DigitalOutput2", "DigitalOutput3"]
    legacy_ok = f"""<iq xmlns='jabber:client' type='result' id='r' from='d@example.org'>
      <setResponse xmlns='{v.CTRL}' responseCode='OK'/></iq>"""
    assert ctl_wire.control_success(parse_iq(peer, legacy_ok)).ok
    legacy_fail = f"""<iq xmlns='jabber:client' type='error' id='r' from='d@example.org'>
      <setResponse xmlns='{v.CTRL}' responseCode='NotFound'>
        <node nodeId='Relay9'/><parameter name='Output'/>
        <error var='Output'>Parameter not found.</error>
      </setResponse></iq>"""
    failed = ctl_wire.control_error(parse_iq(peer, legacy_fail))
    assert failed.failed_parameters == ("Output",) and failed.condition == "NotFound"
    old_schema = legacy_ok.replace("responseCode='OK'", "result='OtherError'")
    assert not ctl_wire.control_success(parse_iq(peer, old_schema)).ok


def test_dimmer_form_vector_is_typed() -> None:
    form = ctl_wire.form_from_result(parse_iq(Peer(PRIMARY), v.C6_FORM))
    assert form.title == "Dimmer"
    assert form.session == "325ED0F3-9A9A-45A4-9634-4E0D41C5EA06"
    assert form.values() == {"FadeTimeMilliseconds": 300, "OutputPercent": 100, "MainSwitch": True}
    fade = form.field("FadeTimeMilliseconds")
    assert fade.not_same and fade.parameter_type == "int"
    assert (fade.minimum, fade.maximum) == ("0", "4095")
    assert form.pages[0].fields == ("FadeTimeMilliseconds", "OutputPercent", "MainSwitch")


def test_parameter_group_vector() -> None:
    form = ctl_wire.form_from_result(parse_iq(Peer(PRIMARY), v.C17_FORM))
    groups = {f.var: f.parameter_group for f in form.parameters}
    assert groups == {
        "MainSwitch": None,
        "HorizontalAngle": "direction",
        "ElevationAngle": "direction",
    }
    assert form.field("ElevationAngle").parameter_type == "double"
    assert [p.label for p in form.pages] == ["Output", "Direction"]


def test_partial_submit_vector_and_client_side_checks() -> None:
    form = ctl_wire.form_from_result(parse_iq(Peer(PRIMARY), v.C6_FORM))
    submit = forms.parse_form(
        forms.build_submit({"OutputPercent": "10", "FadeTimeMilliseconds": 500}, form)
    )
    assert submit.type == "submit"
    assert forms.submitted_values(submit) == {"OutputPercent": "10", "FadeTimeMilliseconds": "500"}
    assert submit.session == form.session and submit.field("MainSwitch") is None
    with pytest.raises(UsageError, match="too large"):
        forms.build_submit({"OutputPercent": 200}, form)
    with pytest.raises(UsageError, match="no field"):
        forms.build_submit({"Brightness": 1}, form)
    values = {"OutputPercent": "10", "FadeTimeMilliseconds": "500"}
    typed = ctl_client.parameters_from_form(form, values)
    assert [(p.name, p.type, p.value) for p in typed] == [
        ("FadeTimeMilliseconds", "int", 500),
        ("OutputPercent", "int", 10),
    ]


# -- device side ---------------------------------------------------------------------------

DIMMER = [
    ParameterSpec(
        "FadeTimeMilliseconds",
        "int",
        300,
        "Fade Time (ms):",
        minimum=0,
        maximum=4095,
        page="Output",
    ),
    ParameterSpec(
        "OutputPercent", "int", 100, "Output (%):", minimum=0, maximum=100, page="Output"
    ),
    ParameterSpec("MainSwitch", "boolean", True, "Main switch", page="Output"),
]


class Recorder:
    def __init__(self) -> None:
        self.calls: list[tuple[tuple[ControlParameter, ...], tuple[NodeRef, ...]]] = []

    def __call__(self, params, nodes):
        self.calls.append((params, nodes))


def iq(kind: str, ident: str, body: str) -> str:
    return f"<iq xmlns='jabber:client' type='{kind}' id='{ident}' from='{PRIMARY}'>{body}</iq>"


def error_parts(reply: ET.Element) -> tuple[str, list[str]]:
    error = reply.find("{jabber:client}error")
    condition = next(c.tag.split("}")[1] for c in error if "xmpp-stanzas" in c.tag)
    return condition, [p.get("var") for p in error.findall(q(v.CTRL, "paramError"))]


def test_device_iq_set_message_set_and_type_errors() -> None:
    device = Peer("dimmer@example.org/sim")
    recorder = Recorder()
    ctl_device.ControlServer(device.xmpp, DIMMER, recorder)
    device.deliver(
        iq(
            "set",
            "1",
            f"<set xmlns='{v.CTRL}' xml:lang='en'>"
            "<int name='FadeTimeMilliseconds' value='500'/>"
            "<int name='OutputPercent' value='10'/></set>",
        )
    )
    reply = device.last()
    assert reply.get("type") == "result" and len(reply.find(q(v.CTRL, "setResponse"))) == 0
    assert [p.name for p in recorder.calls[0][0]] == ["FadeTimeMilliseconds", "OutputPercent"]
    device.deliver(
        f"<message xmlns='jabber:client' from='{PRIMARY}'><set xmlns='{v.CTRL}'>"
        "<boolean name='MainSwitch' value='false'/></set></message>"
    )
    assert device.take() == [] and recorder.calls[-1][0][0].value is False
    device.deliver(
        iq("set", "2", f"<set xmlns='{v.CTRL}'><boolean name='OutputPercent' value='true'/></set>")
    )
    assert error_parts(device.last()) == ("bad-request", ["OutputPercent"])
    device.deliver(
        iq("set", "3", f"<set xmlns='{v.CTRL}'><int name='OutputPercent' value='200'/></set>")
    )
    assert error_parts(device.last()) == ("bad-request", ["OutputPercent"])
    assert len(recorder.calls) == 2


def test_device_multi_node_is_all_or_nothing() -> None:
    def per_node(node: NodeRef | None) -> list[ParameterSpec]:
        kind = "boolean" if node and node.node_id.startswith("Digital") else "int"
        return [ParameterSpec("Output", kind, False if kind == "boolean" else 0)]

    device = Peer("concentrator@example.org/sim")
    recorder = Recorder()
    ctl_device.ControlServer(device.xmpp, per_node, recorder, merge_forms=True)
    nodes = "".join(f"<node nodeId='DigitalOutput{i}'/>" for i in range(1, 5))
    analog = "".join(f"<node nodeId='AnalogOutput{i}'/>" for i in range(1, 5))
    device.deliver(
        iq(
            "set",
            "7",
            f"<set xmlns='{v.CTRL}'>{nodes}{analog}<boolean name='Output' value='true'/></set>",
        )
    )
    assert error_parts(device.last()) == ("bad-request", ["Output"])
    assert recorder.calls == []
    device.deliver(iq("get", "8", f"<getForm xmlns='{v.CTRL}'>{nodes}</getForm>"))
    form = forms.parse_form(forms.find_form(device.last()))
    assert form.title.startswith("DigitalOutput1, DigitalOutput2")
    assert [f.var for f in form.parameters] == ["Output"] and form.field("Output").not_same
    device.deliver(
        iq(
            "set",
            "10",
            f"<set xmlns='{v.CTRL}'>{nodes}"
            f"<x xmlns='jabber:x:data' type='submit'>"
            f"<field var='xdd session'><value>{form.session}</value></field>"
            "<field var='Output'><value>true</value></field></x></set>",
        )
    )
    assert device.last().get("type") == "result"
    params, targets = recorder.calls[0]
    assert params[0].value is True and len(targets) == 4


def test_device_refuses_to_merge_forms_and_denies() -> None:
    device = Peer("concentrator@example.org/sim")

    def deny(requester, nodes):
        if requester.bare == "mallory@example.org":
            raise ctl_device.ControlRejected("forbidden", "Access denied.")

    ctl_device.ControlServer(device.xmpp, DIMMER, Recorder(), merge_forms=False, authorize=deny)
    nodes = "".join(f"<node nodeId='DigitalOutput{i}'/>" for i in range(1, 5))
    device.deliver(iq("get", "9", f"<getForm xmlns='{v.CTRL}'>{nodes}</getForm>"))
    reply = device.last()
    assert error_parts(reply)[0] == "feature-not-implemented"
    device.deliver(iq("get", "4", f"<getForm xmlns='{v.CTRL}'/>"), sender="mallory@example.org/x")
    assert error_parts(device.last())[0] == "forbidden"


def test_device_form_and_submit() -> None:
    device = Peer("dimmer@example.org/sim")
    recorder = Recorder()
    server = ctl_device.ControlServer(device.xmpp, DIMMER, recorder, title="Dimmer")
    device.deliver(iq("get", "3", f"<getForm xmlns='{v.CTRL}' xml:lang='en'/>"))
    reply = device.last()
    form = forms.parse_form(forms.find_form(reply))  # bare form, no wrapper
    assert form.title == "Dimmer" and form.session == server.session
    assert all(f.not_same and f.datatype for f in form.parameters)
    assert form.field("OutputPercent").maximum == "100"
    assert form.pages[0].fields == ("FadeTimeMilliseconds", "OutputPercent", "MainSwitch")
    submit = forms.build_submit({"OutputPercent": 10, "FadeTimeMilliseconds": 500}, form)
    body = ET.Element(q(v.CTRL, "set"))
    body.append(submit)
    device.deliver(iq("set", "5", ET.tostring(body, "unicode")))
    assert device.last().get("type") == "result"
    assert [(p.name, p.value) for p in recorder.calls[0][0]] == [
        ("FadeTimeMilliseconds", 500),
        ("OutputPercent", 10),
    ]
    rejected = ET.tostring(body, "unicode").replace(">10<", ">200<")
    device.deliver(iq("set", "6", rejected))
    assert error_parts(device.last()) == ("bad-request", ["OutputPercent"])


def test_async_on_set_can_report_partial_application() -> None:
    async def on_set(params, nodes):
        await asyncio.sleep(0)
        return ctl_device.Applied(parameters=("MainSwitch",))

    async def scenario() -> ET.Element:
        device = Peer("dimmer@example.org/sim")
        ctl_device.ControlServer(device.xmpp, DIMMER, on_set)
        device.deliver(
            iq("set", "1", f"<set xmlns='{v.CTRL}'><boolean name='MainSwitch' value='1'/></set>")
        )
        await settle()
        return device.last()

    reply = asyncio.run(scenario())
    listed = reply.find(q(v.CTRL, "setResponse")).findall(q(v.CTRL, "parameter"))
    assert [p.get("name") for p in listed] == ["MainSwitch"]


def test_client_and_device_pair() -> None:
    async def scenario() -> tuple[ControlResult, ControlResult, ControlResult, object]:
        client, device = Peer(PRIMARY), Peer("dimmer@example.org/sim")
        recorder = Recorder()
        ctl_device.ControlServer(device.xmpp, DIMMER, recorder, title="Dimmer")
        jid = "dimmer@example.org/sim"

        async def run(coro):
            task = asyncio.ensure_future(coro)
            await pump(client, device)
            return await task

        ok = await run(
            ctl_client.set_parameters(
                client.session, jid, [ControlParameter("OutputPercent", "int", 10)], timeout=1
            )
        )
        bad = await run(
            ctl_client.set_parameters(
                client.session, jid, [ControlParameter("OutputPercent", "string", "x")], timeout=1
            )
        )
        submitted = await run(
            ctl_client.submit_form(client.session, jid, {"MainSwitch": "false"}, timeout=1)
        )
        fire = await run(
            ctl_client.set_parameters(
                client.session,
                jid,
                [ControlParameter("MainSwitch", "boolean", True)],
                use_message=True,
            )
        )
        with pytest.raises(UsageError):
            await ctl_client.set_parameters(client.session, jid, [])
        return ok, bad, submitted, (fire, recorder)

    ok, bad, submitted, (fire, recorder) = asyncio.run(scenario())
    assert ok.ok and ok.acknowledged
    assert not bad.ok and bad.failed_parameters == ("OutputPercent",)
    assert submitted.ok and fire.ok and not fire.acknowledged
    assert [c[0][0].value for c in recorder.calls] == [10, False, True]


def test_get_form_refused_raises_remote_error() -> None:
    async def scenario() -> None:
        client = Peer(PRIMARY)
        task = asyncio.ensure_future(
            ctl_client.get_form(client.session, "dimmer@example.org", timeout=1)
        )
        await settle()
        request = client.last()
        client.deliver(
            f"<iq xmlns='jabber:client' type='error' id='{request.get('id')}' "
            "from='dimmer@example.org'>"
            "<error type='cancel'><forbidden xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'/>"
            "<text xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'>Access denied.</text></error></iq>"
        )
        await task

    with pytest.raises(RemoteError) as info:
        asyncio.run(scenario())
    assert info.value.condition == "forbidden"
