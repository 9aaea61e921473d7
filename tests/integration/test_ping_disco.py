"""XEP-0199 ping and XEP-0030 disco against the lab server and a connected device."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from tests.conftest import LAB_NAME
from tests.helpers import lab_settings
from xiot.errors import RemoteError
from xiot.xmpp.disco import get_info, get_items
from xiot.xmpp.ping import PingSummary, ping, ping_once
from xiot.xmpp.session import Session


def run(coro):
    return asyncio.run(coro)


def test_ping_server_counts_and_times(lab):
    async def scenario():
        async with Session(lab_settings(LAB_NAME)) as s:
            return [r async for r in ping(s, "xiot.test", 3, 0.01, 5)]

    results = run(scenario())
    assert [r.seq for r in results] == [1, 2, 3]
    assert all(r.status == "ok" and r.rtt_ms > 0 for r in results)
    summary = PingSummary.of("xiot.test", results)
    assert summary.received == 3 and summary.min_ms <= summary.avg_ms <= summary.max_ms


def test_ping_connected_device_by_full_jid(lab, lab_accounts):
    device = lab_accounts["dev0002"]

    async def scenario():
        dev_settings = lab_settings(LAB_NAME).with_jid(device.jid + "/probe")
        async with Session(dev_settings, password=device.password) as dev, \
                Session(lab_settings(LAB_NAME)) as admin:
            full = str(dev.client.boundjid)
            good = await ping_once(admin, full, 1, 5)
            gone = await ping_once(admin, device.jid + "/nobody", 2, 5)
            return full, good, gone

    full, good, gone = run(scenario())
    assert full.endswith("/probe")
    assert good.status == "ok"
    assert gone.status == "error" and gone.error.startswith("service-unavailable")


def test_disco_server_info_lists_what_the_lab_enables(lab):
    async def scenario():
        async with Session(lab_settings(LAB_NAME)) as s:
            return await get_info(s, "xiot.test", None, 5)

    info = run(scenario())
    assert ("server", "im") in {(i.category, i.type) for i in info.identities}
    for feature in ("urn:xmpp:ping", "jabber:iq:register", "http://jabber.org/protocol/commands"):
        assert info.has(feature)
    kinds = {r["kind"] for r in info.to_records()}
    assert {"identity", "feature"} <= kinds


def test_disco_items_find_pubsub_and_muc_components(lab):
    async def scenario():
        async with Session(lab_settings(LAB_NAME)) as s:
            items = await get_items(s, "xiot.test", None, 5)
            pubsub = await get_info(s, "pubsub.xiot.test", None, 5)
            return items, pubsub

    items, pubsub = run(scenario())
    jids = {i.jid for i in items.items}
    assert {"pubsub.xiot.test", "conference.xiot.test"} <= jids
    assert ("pubsub", "service") in {(i.category, i.type) for i in pubsub.identities}


def test_disco_error_raises_remote_error(lab):
    async def scenario():
        async with Session(lab_settings(LAB_NAME)) as s:
            return await get_info(s, "dev0003@xiot.test/offline", None, 5)

    with pytest.raises(RemoteError) as info:
        run(scenario())
    assert info.value.condition == "service-unavailable"


def test_lab_never_reaches_out_to_other_servers(lab):
    async def scenario():
        async with Session(lab_settings(LAB_NAME)) as s:
            return await ping_once(s, "someone@elsewhere.invalid", 1, 5)

    result = run(scenario())
    assert result.status == "error" and result.error.startswith("remote-server-not-found")
    assert "does not connect to other servers" in result.error  # bounced, no s2s attempt
    log = (Path(lab.directory) / "prosody.log").read_text()
    assert "s2sout" not in log
