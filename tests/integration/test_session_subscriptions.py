"""A Session never answers subscription requests by itself.

slixmpp approves every request and asks for one back unless told otherwise, so a read-only
command (a readout, a presence watch, the shell) would change the account's roster whenever
someone asked: an operator's account would end up sharing its presence with anyone.
"""

from __future__ import annotations

import asyncio
import contextlib
from dataclasses import replace

from tests.conftest import LAB_NAME
from tests.helpers import lab_settings
from xiot.presence.roster import fetch_roster
from xiot.xmpp.session import Session


def test_a_subscription_request_is_neither_approved_nor_returned(lab, lab_accounts):
    asker, asked = lab_accounts["dev0041"], lab_accounts["dev0042"]
    base = lab_settings(LAB_NAME)

    async def scenario() -> tuple[list[str], dict]:
        answers: list[str] = []
        async with Session(replace(base, jid=asked.jid), password=asked.password) as target, \
                Session(replace(base, jid=asker.jid), password=asker.password) as source:
            # available, as the shell and 'presence watch' are: requests are delivered then
            target.client.send_presence()
            source.client.add_event_handler(
                "presence_subscribed", lambda p: answers.append("subscribed"))
            source.client.add_event_handler(
                "presence_subscribe", lambda p: answers.append("subscribe"))
            source.client.send_presence(pto=asked.jid, ptype="subscribe")
            await asyncio.sleep(1.0)  # what slixmpp would answer comes within milliseconds
            roster = await fetch_roster(target, 5, use_cache=False)
            source.client.send_presence(pto=asked.jid, ptype="unsubscribe")
            if asker.jid in roster.items:  # leave the shared lab as it was
                with contextlib.suppress(Exception):
                    await target.client.update_roster(asker.jid, subscription="remove")
            return answers, dict(roster.items)

    answers, items = asyncio.run(scenario())
    assert answers == []
    item = items.get(asker.jid)
    assert item is None or item.subscription in ("none", None)
