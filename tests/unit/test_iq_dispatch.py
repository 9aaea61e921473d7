"""One handler answers every outstanding iq by id; only the addressed entity may answer."""

from __future__ import annotations

import asyncio

import pytest
from slixmpp.exceptions import IqError, IqTimeout

from tests.unit.iot.harness import Peer, settle
from xiot.xmpp.iq import IqDispatcher
from xiot.xmpp.session import ConnectionLost

DEVICE = "dev@example.org/sim"


def _request(peer: Peer, to: str = DEVICE):  # type: ignore[no-untyped-def]
    iq = peer.xmpp.make_iq_get(ito=to)
    iq["query"] = "jabber:iq:version"
    return iq


def _reply(iq, sender: str, kind: str = "result") -> str:  # type: ignore[no-untyped-def]
    return f"<iq xmlns='jabber:client' type='{kind}' id='{iq['id']}' from='{sender}'/>"


def test_replies_are_matched_by_id_and_only_from_the_addressed_entity():
    async def scenario():
        client = Peer("ops@example.org/x")
        dispatcher = client.session.state(IqDispatcher)
        first, second = _request(client), _request(client, "other@example.org/sim")
        waits = [asyncio.ensure_future(dispatcher.send(iq, 5)) for iq in (first, second)]
        await settle()
        client.deliver(_reply(first, "intruder@example.org/evil"))  # spoofed: ignored
        client.deliver(_reply(second, "other@example.org/sim"))
        await settle()
        spoof_ignored = not waits[0].done()
        client.deliver(_reply(first, DEVICE))
        results = await asyncio.gather(*waits)
        return spoof_ignored, [str(r["from"]) for r in results], dispatcher.pending

    spoof_ignored, senders, pending = asyncio.run(scenario())
    assert spoof_ignored
    assert senders == [DEVICE, "other@example.org/sim"]
    assert pending == {}


def test_error_timeout_and_lost_connection():
    async def scenario():
        client = Peer("ops@example.org/x")
        dispatcher = client.session.state(IqDispatcher)
        failing = _request(client)
        wait = asyncio.ensure_future(dispatcher.send(failing, 5))
        await settle()
        client.deliver(_reply(failing, DEVICE, "error"))
        with pytest.raises(IqError):
            await wait
        with pytest.raises(IqTimeout):
            await dispatcher.send(_request(client), 0.05)
        stranded = asyncio.ensure_future(dispatcher.send(_request(client), 30))
        await settle()
        dispatcher.connection_lost(ConnectionLost("connection lost"))
        with pytest.raises(ConnectionLost):
            await stranded
        return dispatcher.pending

    assert asyncio.run(scenario()) == {}
