"""Simulated devices publishing their readings as PubSub items (``xiot sim run --publish``).

The node name is a template: ``{user}`` or ``{jid}`` gives each device a node of its own,
without them every device publishes to one shared node.  The fleet's operator account
(the lab's admin) prepares the nodes before the devices start: a device's node gets that
device as publisher, a shared node the open publish model.  Where it may not, a device
creates its node itself on first use (ejabberd lets any local user create nodes, Prosody
0.12 only its admins).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence
from typing import Any

from xiot.config import Settings
from xiot.errors import UsageError, XiotError

log = logging.getLogger("xiot")


def publish_node(template: str, jid: str) -> str:
    """The node a device publishes to: ``template`` with ``{user}`` and ``{jid}`` filled."""
    try:
        node = template.format(jid=jid, user=jid.split("@")[0])
    except (KeyError, IndexError, ValueError) as exc:
        raise UsageError(f"--publish {template!r} is not a node template ({exc})",
                         "Use a node name, optionally with {user} or {jid}") from None
    if not node:
        raise UsageError("--publish needs a node name")
    return node


async def prepare_nodes(settings: Settings, options: Any, devices: Sequence[Any]) -> None:
    """Create the nodes the devices will publish to, as the fleet's operator account.

    A device's own node gets that device as publisher; a shared node the open publish
    model.  Nodes that exist are left as their owner configured them.  Where the operator
    account may not create nodes (or none is configured), the devices try themselves.
    """
    from xiot.pubsub import core, nodes, subscriptions
    from xiot.xmpp.session import Session

    assert options.publish is not None
    targets: dict[str, list[str]] = {}
    for device in devices:
        node = publish_node(options.publish, device.account.jid)
        targets.setdefault(node, []).append(device.account.jid)
    try:
        async with Session(settings) as session:
            where = await core.target(session, options.publish_service)
            limit = asyncio.Semaphore(max(1, options.login_concurrency))

            async def prepare(node: str, jids: list[str]) -> None:
                async with limit:
                    if await nodes.exists(session, where, node):
                        return
                    shared = node == options.publish
                    config = {"pubsub#publish_model": "open"} if shared else {
                        "pubsub#access_model": "open"}
                    await nodes.create(session, where, node, config)
                    if not shared:
                        await subscriptions.set_affiliations(
                            session, where, node, {jids[0]: "publisher"})

            await asyncio.gather(*(prepare(n, j) for n, j in targets.items()))
    except XiotError as exc:
        log.info("sim: the nodes could not be prepared (%s); devices create their own",
                 exc.message)


async def publish_once(device: Any, node: str, shared: bool) -> str:
    """Publish one reading to ``node``, creating the node when it does not exist yet.

    Nodes are normally prepared by the fleet's operator account; where that was not
    possible a device creates its own node (open access), or the first device to reach a
    shared node creates it with the open publish model, so the others may publish too.
    """
    from xiot.errors import RemoteError
    from xiot.pubsub import core, items, nodes

    where = await core.target(device.session, device.options.publish_service)
    payload = device.readings_payload()
    try:
        return (await items.publish(device.session, where, node, payload)).id or ""
    except RemoteError as exc:
        # Prosody says forbidden, not item-not-found, when a device publishes to a node
        # that does not exist: ask whether it exists before creating it.
        if exc.condition not in ("item-not-found", "forbidden") or \
                await nodes.exists(device.session, where, node):
            raise
    config = {"pubsub#publish_model": "open"} if shared else {"pubsub#access_model": "open"}
    try:
        await nodes.create(device.session, where, node, config)
    except RemoteError as exc:
        if exc.condition != "conflict":  # another device created it first
            raise
    return (await items.publish(device.session, where, node, payload)).id or ""
