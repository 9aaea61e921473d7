"""XEP-0012 last activity: when an offline contact's last session ended.

Asked only for offline contacts, with bounded concurrency, and only when the server says it
answers ``jabber:iq:last`` (Prosody needs ``mod_lastactivity``): without it every query would
come back ``service-unavailable``, ten thousand useless round trips.  Prosody keeps last
activity in memory and answers ``seconds='0'`` for an account it has no record of (never seen
since the server started); that is reported as unknown, not as "just now".
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from xiot.fanout import bounded

if TYPE_CHECKING:
    from xiot.xmpp.session import Session

NS = "jabber:iq:last"
CONCURRENCY = 64


@dataclass(frozen=True, slots=True)
class LastActivity:
    jid: str
    seen: dt.datetime | None
    status: str | None = None


async def server_answers_last(session: Session, timeout: float) -> bool:
    """The account's server advertises XEP-0012 (it answers for its accounts' bare JIDs)."""
    from xiot.errors import XiotError
    from xiot.xmpp.disco import get_info

    try:
        info = await get_info(session, session.jid.domain, None, timeout)
    except XiotError:
        return False
    return info.has(NS)


async def last_activity(session: Session, jids: Iterable[str], timeout: float,
                        limit: int = CONCURRENCY) -> dict[str, LastActivity]:
    """{bare JID: LastActivity} for those that answered; errors and timeouts are left out."""
    jids = list(jids)
    if not jids:
        return {}
    found: dict[str, LastActivity] = {}
    async for answer in bounded(jids, lambda jid: _ask(session, jid, timeout), limit):
        if answer is not None:
            found[answer.jid] = answer
    return found


async def _ask(session: Session, jid: str, timeout: float) -> LastActivity | None:
    from slixmpp.exceptions import IqError, IqTimeout

    iq = session.client.make_iq_get(queryxmlns=NS, ito=jid)
    asked = dt.datetime.now(dt.UTC)
    try:
        result = await session.guard(iq.send(timeout=timeout))
    except (IqError, IqTimeout):
        return None
    query = result.xml.find(f"{{{NS}}}query")
    if query is None:
        return None
    try:
        seconds = int(query.get("seconds", ""))
    except ValueError:
        return None
    status = (query.text or "").strip() or None
    if seconds <= 0 and status is None:
        return LastActivity(jid, None)
    return LastActivity(jid, asked - dt.timedelta(seconds=seconds), status)
