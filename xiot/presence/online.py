"""The server's own list of online sessions (XEP-0133 "get online users").

A second source of truth that needs no roster: an admin account asks the server which
accounts have sessions.  It scales past what one operator's roster can carry and works where
the operator is not subscribed to every device.  Prosody 0.12 offers
``admin#get-online-users-list`` (one text-multi field: each JID, then with ``details`` one
indented line per resource, ``- res: away(5), IP: [...]``); ejabberd offers it and
``admin#get-online-users``.  Rows built from it say ``source: server``.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

from xiot.errors import RemoteError
from xiot.presence.model import ContactState, Resource, best_resource
from xiot.provision.admin import admin_node, execute, offered

if TYPE_CHECKING:
    from xiot.xmpp.session import Session

NODES = (admin_node("get-online-users-list"), admin_node("get-online-users"))
_DETAIL = re.compile(r"^\s*-\s*(?P<res>[^:]*):\s*(?P<show>[a-z]+)\((?P<prio>-?\d+)\)")


async def online_users(session: Session, timeout: float) -> list[ContactState]:
    """One row per account with a session, with its resources where the server details them."""
    nodes = await offered(session, timeout)
    node = next((n for n in NODES if n in nodes), None)
    if node is None:
        raise RemoteError(
            f"{session.jid.domain} offers {session.jid.bare} no XEP-0133 get-online-users "
            "command",
            "--source server needs an admin profile on a server with admin ad-hoc commands "
            "(Prosody: mod_admin_adhoc; ejabberd: mod_configure)")
    result = await execute(session, node, {"max_items": "all", "details": True}, timeout)
    if result.error:
        raise RemoteError(f"get-online-users failed: {result.error}")
    lines: list[str] = []
    if result.form is not None:
        for field in result.form.fields:
            if field.type != "hidden":
                lines += list(field.values)
    return parse_online(lines)


def parse_online(lines: list[str]) -> list[ContactState]:
    """Rows from the command's lines: a JID (bare or full), then optional detail lines."""
    resources: dict[str, list[Resource]] = {}
    current: str | None = None
    for line in lines:
        detail = _DETAIL.match(line)
        if detail and current is not None:
            show = detail["show"]
            state = show if show in ("chat", "away", "xa", "dnd") else "available"
            resources[current].append(Resource(detail["res"].strip(), state,
                                               priority=int(detail["prio"])))
            continue
        text = line.strip()
        if "@" not in text or " " in text:
            continue
        bare, _, resource = text.partition("/")
        current = bare
        found = resources.setdefault(bare, [])
        if resource and all(r.name != resource for r in found):
            found.append(Resource(resource, "available"))
    rows = []
    for bare in sorted(resources):
        found = tuple(resources[bare])
        best = best_resource(found)
        rows.append(ContactState(bare, best.state if best else "available",
                                 priority=best.priority if best else None, resources=found,
                                 source="server"))
    return rows
