"""XEP-0323 client and device behaviour, driven by feeding stanzas to their handlers."""

from __future__ import annotations

import asyncio
import xml.etree.ElementTree as ET
from collections.abc import AsyncIterator
from datetime import datetime, timedelta

from tests.unit.iot import vectors as v
from tests.unit.iot.harness import Peer, pump, q, settle
from xiot.iot.model import Field, NodeError, Reading, ReadoutRequest
from xiot.iot.sensordata import client as sd_client
from xiot.iot.sensordata import device as sd_device
from xiot.iot.sensordata import wire as sd_wire


def with_seqnr(xml: str, seqnr: int) -> ET.Element:
    """A catalogue vector re-keyed to the seqnr our client picked."""
    element = ET.fromstring(xml)
    for child in element.iter():
        if "seqnr" in child.attrib:
            child.set("seqnr", str(seqnr))
    return element


def iq_result(request: ET.Element, inner: str = "") -> str:
    return (
        f"<iq xmlns='jabber:client' type='result' id='{request.get('id')}' "
        f"from='{v.DEVICE}'>{inner}</iq>"
    )


async def start(client: Peer, request: ReadoutRequest, timeout: float = 1.0):
    task = asyncio.ensure_future(sd_client.read(client.session, v.DEVICE, request, timeout))
    await settle()
    iq = client.last()
    req = iq.find(q(v.SD, "req"))
    assert iq.get("type") == "get" and req is not None
    return task, iq, int(req.get("seqnr", "0"))


def accepted(seqnr: int, queued: bool = False) -> str:
    flag = " queued='true'" if queued else ""
    return f"<accepted xmlns='{v.SD}' seqnr='{seqnr}'{flag}/>"


def test_momentary_readout() -> None:
    async def scenario() -> Reading:
        client = Peer(v.CLIENT)
        task, iq, seqnr = await start(client, ReadoutRequest(categories={"momentary"}))
        assert iq.find(q(v.SD, "req")).get("momentary") == "true"
        client.deliver(iq_result(iq, accepted(seqnr)))
        client.deliver(with_seqnr(v.S1_FIELDS, seqnr))
        return await task

    reading = asyncio.run(scenario())
    assert reading.status == "ok" and reading.errors == ()
    assert reading.value("Temperature") == 23.4


def test_readout_failure_is_an_error() -> None:
    async def scenario() -> Reading:
        client = Peer(v.CLIENT)
        task, iq, seqnr = await start(client, ReadoutRequest(categories={"momentary"}))
        client.deliver(iq_result(iq, accepted(seqnr)))
        client.deliver(with_seqnr(v.S2_FAILURE, seqnr))
        return await task

    reading = asyncio.run(scenario())
    assert reading.status == "error"
    assert reading.errors == ("Device01: Timeout.",)


def test_rejections_and_offline() -> None:
    async def scenario(answer: str) -> Reading:
        client = Peer(v.CLIENT)
        task, iq, _ = await start(client, ReadoutRequest())
        element = ET.fromstring(answer)
        element.set("id", iq.get("id", ""))
        client.deliver(element)
        return await task

    modern = asyncio.run(scenario(v.S3_REJECTED))
    assert (modern.status, modern.condition) == ("rejected", "forbidden")
    assert "Access denied." in modern.errors[0]
    legacy = asyncio.run(scenario(v.S3_REJECTED_LEGACY))
    assert legacy.status == "rejected" and "Access denied." in legacy.errors[0]
    unavailable = v.S3_REJECTED.replace("forbidden", "service-unavailable")
    offline = asyncio.run(scenario(unavailable))
    assert offline.status == "offline" and "full JID" in offline.errors[0]


def test_scheduled_read_all_with_separate_done() -> None:
    async def scenario() -> Reading:
        client = Peer(v.CLIENT)
        when = datetime.now() + timedelta(seconds=1)
        task, iq, seqnr = await start(client, ReadoutRequest(categories={"all"}, when=when), 0.3)
        assert iq.find(q(v.SD, "req")).get("all") == "true"
        client.deliver(iq_result(iq, accepted(seqnr, queued=True)))
        await asyncio.sleep(0.5)  # longer than the timeout: a queued request waits for `when`
        assert not task.done()
        client.deliver(with_seqnr(v.s4_message("started"), seqnr))
        for message in (v.S4_FIELDS_A, v.S4_FIELDS_B, v.S4_FIELDS_C):
            client.deliver(with_seqnr(message, seqnr))
        await settle()
        assert not task.done()
        client.deliver(with_seqnr(v.s4_message("done"), seqnr))
        return await task

    reading = asyncio.run(scenario())
    assert reading.status == "ok"
    assert len(reading.fields) == 10
    assert reading.value("Temperature") == 23.4  # the newest timestamp wins


def test_several_nodes() -> None:
    async def scenario() -> Reading:
        client = Peer(v.CLIENT)
        request = ReadoutRequest(categories={"momentary"}, nodes=["Device02", "Device03"])
        task, iq, seqnr = await start(client, request)
        nodes = iq.find(q(v.SD, "req")).findall(q(v.SD, "node"))
        assert [n.get("nodeId") for n in nodes] == ["Device02", "Device03"]
        client.deliver(iq_result(iq, accepted(seqnr)))
        client.deliver(with_seqnr(v.S5_FIELDS_1, seqnr))
        client.deliver(with_seqnr(v.S5_FIELDS_2, seqnr))
        return await task

    reading = asyncio.run(scenario())
    assert reading.status == "ok" and reading.missing == ()
    assert reading.value("Temperature", node="Device03") == 22.8


def test_field_filter_is_applied_by_the_client() -> None:
    async def scenario() -> Reading:
        client = Peer(v.CLIENT)
        request = ReadoutRequest({"Energy", "Power"}, {"momentary"}, nodes=["Device04"])
        task, iq, seqnr = await start(client, request)
        names = {f.get("name") for f in iq.find(q(v.SD, "req")).findall(q(v.SD, "field"))}
        assert names == {"Energy", "Power"}
        client.deliver(iq_result(iq, accepted(seqnr)))
        client.deliver(with_seqnr(v.S6_FIELDS, seqnr))
        return await task

    reading = asyncio.run(scenario())
    assert sorted(f.name for f in reading.fields) == ["Energy", "Power"]
    assert reading.node == "Device04"


def test_device_that_skips_accepted_and_answers_in_the_result() -> None:
    async def scenario() -> Reading:
        client = Peer(v.CLIENT)
        task, iq, seqnr = await start(client, ReadoutRequest())
        inline = ET.tostring(with_seqnr(v.S1_FIELDS, seqnr).find(q(v.SD, "fields")), "unicode")
        client.deliver(iq_result(iq, inline))
        return await task

    assert asyncio.run(scenario()).status == "ok"


def test_fields_before_the_iq_result_and_without_accepted() -> None:
    async def scenario() -> Reading:
        client = Peer(v.CLIENT)
        task, iq, seqnr = await start(client, ReadoutRequest())
        client.deliver(with_seqnr(v.S1_FIELDS, seqnr))
        client.deliver(iq_result(iq))
        return await task

    assert asyncio.run(scenario()).value("Temperature") == 23.4


def test_interleaved_failure_and_fields_then_separate_done() -> None:
    failure_a = f"""<message xmlns='jabber:client' from='{v.DEVICE}'>
      <failure xmlns='{v.SD}' seqnr='5'>
        <error nodeId='Device02' timestamp='2013-03-07T19:31:15'>No answer.</error>
      </failure></message>"""

    async def scenario() -> Reading:
        client = Peer(v.CLIENT)
        request = ReadoutRequest(nodes=["Device02", "Device03"])
        task, iq, seqnr = await start(client, request)
        client.deliver(iq_result(iq, accepted(seqnr)))
        client.deliver(with_seqnr(failure_a, seqnr))
        client.deliver(with_seqnr(v.S5_FIELDS_2.replace(" done='true'", ""), seqnr))
        await settle()
        assert not task.done()
        client.deliver(with_seqnr(v.s4_message("done"), seqnr))
        return await task

    reading = asyncio.run(scenario())
    assert reading.status == "partial"
    assert reading.missing == ("Device02",)
    assert reading.errors == ("Device02: No answer.",)


def test_timeout_keeps_what_arrived_names_what_is_missing_and_cancels() -> None:
    async def scenario() -> tuple[Reading, Peer, int]:
        client = Peer(v.CLIENT)
        request = ReadoutRequest(nodes=["Device02", "Device03"])
        task, iq, seqnr = await start(client, request, timeout=0.2)
        client.deliver(iq_result(iq, accepted(seqnr)))
        client.deliver(with_seqnr(v.S5_FIELDS_1, seqnr))
        return await task, client, seqnr

    reading, client, seqnr = asyncio.run(scenario())
    assert reading.status == "partial"
    assert [f.node.node_id for f in reading.fields] == ["Device02"]
    assert reading.missing == ("Device03",)
    assert "timed out" in reading.errors[-1]
    cancel = client.last().find(q(v.SD, "cancel"))
    assert cancel is not None and cancel.get("seqnr") == str(seqnr)


def test_silent_device_times_out() -> None:
    async def scenario() -> Reading:
        client = Peer(v.CLIENT)
        task, _, _ = await start(client, ReadoutRequest(), timeout=0.1)
        return await task

    reading = asyncio.run(scenario())
    assert reading.status == "timeout" and reading.fields == ()


def test_stray_and_foreign_messages_are_ignored() -> None:
    async def scenario() -> Reading:
        client = Peer(v.CLIENT)
        task, iq, seqnr = await start(client, ReadoutRequest())
        client.deliver(with_seqnr(v.S1_FIELDS, seqnr + 1))
        client.deliver(with_seqnr(v.S1_FIELDS, seqnr), sender="mallory@example.org/x")
        client.deliver(iq_result(iq, accepted(seqnr)))
        return await task

    async def wrapped() -> Reading:
        return await asyncio.wait_for(scenario(), 5)

    reading = asyncio.run(wrapped())
    assert reading.fields == ()


def test_seqnr_unique_per_connection() -> None:
    async def scenario() -> list[int]:
        client = Peer(v.CLIENT)
        tasks = [
            asyncio.ensure_future(sd_client.read(client.session, v.DEVICE, None, 0.05))
            for _ in range(20)
        ]
        await settle()
        seqnrs = [int(e.find(q(v.SD, "req")).get("seqnr")) for e in client.take()]
        await asyncio.gather(*tasks)
        return seqnrs

    seqnrs = asyncio.run(scenario())
    assert len(set(seqnrs)) == 20 and all(0 < s < 2**31 for s in seqnrs)


# -- device side ---------------------------------------------------------------------------


def thermometer(request: ReadoutRequest) -> list[Field | NodeError]:
    stamp = datetime(2013, 3, 7, 16, 24, 30)
    return [
        Field(
            "Temperature",
            "numeric",
            23.4,
            None,
            stamp,
            unit="°C",
            decimals=1,
            categories={"momentary"},
            flags={"automaticReadout"},
        ),
        Field("Device ID", "string", "Device01", None, stamp, categories={"identity"}),
    ]


def req_iq(
    seqnr: int, attrs: str = "momentary='true'", children: str = "", kind: str = "get"
) -> str:
    return (
        f"<iq xmlns='jabber:client' type='{kind}' id='S{seqnr:04}' from='{v.CLIENT}'>"
        f"<req xmlns='{v.SD}' seqnr='{seqnr}' {attrs}>{children}</req></iq>"
    )


def test_device_answers_momentary_request_like_the_catalogue() -> None:
    async def scenario() -> list[ET.Element]:
        device = Peer("device@example.org/sim")
        sd_device.SensorServer(device.xmpp, thermometer)
        device.deliver(req_iq(1))
        return device.take()

    result, message = asyncio.run(scenario())
    assert result.get("type") == "result" and result.get("id") == "S0001"
    assert result.find(q(v.SD, "accepted")).get("seqnr") == "1"
    fields = message.find(q(v.SD, "fields"))
    assert fields.get("done") == "true" and message.get("to") == v.CLIENT
    parsed, _ = sd_wire.parse_fields(fields)
    # the device honours the category hint and fills in its default node
    assert [(f.name, f.node.node_id, f.raw) for f in parsed] == [
        ("Temperature", "Device01", "23.4")
    ]


def test_device_rejections() -> None:
    async def scenario(server_kwargs: dict, request: str) -> ET.Element:
        device = Peer("concentrator@example.org/sim")
        sd_device.SensorServer(device.xmpp, thermometer, **server_kwargs)
        device.deliver(request)
        return device.last()

    def condition(reply: ET.Element) -> str:
        error = reply.find("{jabber:client}error")
        return next(c.tag.split("}")[1] for c in error if c.tag.endswith("}text") is False)

    concentrator = asyncio.run(scenario({"concentrator": True}, req_iq(3)))
    assert concentrator.get("type") == "error" and condition(concentrator) == "bad-request"
    unknown = asyncio.run(
        scenario({"nodes": ["Device01"]}, req_iq(4, children="<node nodeId='Nope'/>"))
    )
    assert condition(unknown) == "item-not-found"

    def deny(requester, request):
        raise sd_device.ReadoutRejected("forbidden", "Access denied.")

    denied = asyncio.run(scenario({"authorize": deny}, req_iq(5)))
    assert condition(denied) == "forbidden"
    malformed = asyncio.run(scenario({}, req_iq(6, attrs="momentary='true' from='soon'")))
    assert condition(malformed) == "bad-request"


def test_streaming_provider_marks_only_the_last_message_done() -> None:
    async def provider(request: ReadoutRequest) -> AsyncIterator[list[Field | NodeError]]:
        yield [Field("A", "int", 1, "Device02")]
        yield [NodeError("No answer.", "Device03")]
        yield [Field("B", "int", 2, "Device04")]

    async def scenario(separate_done: bool) -> list[ET.Element]:
        device = Peer("device@example.org/sim")
        sd_device.SensorServer(device.xmpp, provider, separate_done=separate_done)
        device.deliver(req_iq(7, "all='true'", kind="set"))
        await settle()
        return device.take()

    inline = asyncio.run(scenario(False))
    payloads = [next(iter(m)) for m in inline[1:]]
    assert [p.tag.split("}")[1] for p in payloads] == ["fields", "failure", "fields"]
    assert [p.get("done") for p in payloads] == [None, None, "true"]
    separate = asyncio.run(scenario(True))
    tags = [next(iter(m)).tag.split("}")[1] for m in separate[1:]]
    assert tags == ["fields", "failure", "fields", "done"]


def test_failing_provider_still_ends_the_readout() -> None:
    async def provider(request: ReadoutRequest) -> list[Field]:
        raise RuntimeError("sensor unplugged")

    async def scenario() -> list[ET.Element]:
        device = Peer("device@example.org/sim")
        sd_device.SensorServer(device.xmpp, provider)
        device.deliver(req_iq(8))
        await settle()
        return device.take()

    _, message = asyncio.run(scenario())
    failure = message.find(q(v.SD, "failure"))
    assert failure.get("done") == "true" and "unplugged" in failure.find(q(v.SD, "error")).text


def test_cancel_a_scheduled_readout() -> None:
    later = (datetime.now() + timedelta(hours=1)).replace(microsecond=0).isoformat()

    async def scenario() -> tuple[list[ET.Element], ET.Element, ET.Element]:
        device = Peer("device@example.org/sim")
        sd_device.SensorServer(device.xmpp, thermometer)
        device.deliver(req_iq(8, f"all='true' when='{later}'"))
        queued = device.take()
        cancel = (
            f"<iq xmlns='jabber:client' type='get' id='S0008' from='{v.CLIENT}'>"
            f"<cancel xmlns='{v.SD}' seqnr='8'/></iq>"
        )
        device.deliver(cancel)
        confirmed = device.last()
        device.deliver(cancel.replace("type='get'", "type='set'"))
        return queued, confirmed, device.last()

    queued, confirmed, again = asyncio.run(scenario())
    assert len(queued) == 1 and queued[0].find(q(v.SD, "accepted")).get("queued") == "true"
    assert confirmed.find(q(v.SD, "cancelled")).get("seqnr") == "8"
    assert again.get("type") == "error"


def test_client_and_device_pair() -> None:
    async def scenario() -> Reading:
        client, device = Peer(v.CLIENT), Peer("device@example.org/sim")
        sd_device.SensorServer(device.xmpp, thermometer, default_node="Device01")
        task = asyncio.ensure_future(
            sd_client.read(client.session, "device@example.org/sim", ReadoutRequest(), 1.0)
        )
        await pump(client, device)
        return await task

    reading = asyncio.run(scenario())
    assert reading.status == "ok"
    assert {f.name for f in reading.fields} == {"Temperature", "Device ID"}
    assert reading.value("Device ID") == "Device01"
