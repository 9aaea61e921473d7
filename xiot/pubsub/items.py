"""Items: publish (with publish-options), fetch, retract."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from xiot.errors import UsageError
from xiot.pubsub import config as cfg
from xiot.pubsub.core import NS, PUBLISH_OPTIONS, Target, child, pubsub, q, request, submit_form
from xiot.pubsub.model import Item, Outcome

if TYPE_CHECKING:
    from xiot.xmpp.session import Session

MAX_ITEMS = 100_000


def publish_element(node: str, payload: ET.Element | None, item_id: str | None = None,
                    options: Mapping[str, Sequence[str]] | None = None) -> ET.Element:
    """The ``<pubsub><publish/>`` element (shared with the simulator's fast path)."""
    body = pubsub()
    publish_el = ET.SubElement(body, q(NS, "publish"), {"node": node})
    item = ET.SubElement(publish_el, q(NS, "item"), {"id": item_id} if item_id else {})
    if payload is not None:
        item.append(payload)
    if options:
        holder = ET.SubElement(body, q(NS, "publish-options"))
        holder.append(submit_form(PUBLISH_OPTIONS, options))
    return body


def check_options(where: Target, options: Mapping[str, Any] | None
                  ) -> dict[str, tuple[str, ...]]:
    """Publish options typed by the node-configuration registry; the service must offer them."""
    if not options:
        return {}
    where.require("publish-options", "publish with options")
    return cfg.check(options, None, where.service, where.has("collections")).lexical


async def publish(session: Session, where: Target, node: str, payload: ET.Element | None,
                  item_id: str | None = None, options: Mapping[str, Any] | None = None
                  ) -> Item:
    """Publish one item; returns it with the id the service assigned when none was given."""
    lexical = check_options(where, options)
    body = publish_element(node, payload, item_id, lexical)
    result = await request(session, where.service, "set", body, "publish", node)
    assigned = child(result, q(NS, "pubsub"), q(NS, "publish"), q(NS, "item"))
    found = assigned.get("id") if assigned is not None else None
    return Item(where.service, node, found or item_id, str(session.jid.bare), payload)


async def get_items(session: Session, where: Target, node: str, max_items: int | None = None,
                    ids: Sequence[str] = ()) -> list[Item]:
    """The node's items (the newest ``max_items`` of them, or those with ``ids``)."""
    if max_items is not None and not 1 <= max_items <= MAX_ITEMS:
        raise UsageError(f"--max {max_items} is out of range", f"Use 1 to {MAX_ITEMS}")
    body = pubsub()
    attrs = {"node": node} | ({"max_items": str(max_items)} if max_items else {})
    items_el = ET.SubElement(body, q(NS, "items"), attrs)
    for item_id in ids:
        ET.SubElement(items_el, q(NS, "item"), {"id": item_id})
    result = await request(session, where.service, "get", body, "send the items", node)
    found = child(result, q(NS, "pubsub"), q(NS, "items"))
    items = [_item(where.service, node, el) for el in
             (found.findall(q(NS, "item")) if found is not None else [])]
    return items[-max_items:] if max_items else items


def _item(service: str, node: str, element: ET.Element) -> Item:
    payload = next(iter(element), None)
    return Item(service, node, element.get("id"), element.get("publisher"), payload)


async def retract(session: Session, where: Target, node: str, ids: Sequence[str],
                  notify: bool = True) -> list[Outcome]:
    """Retract the items ``ids``, one request each, going on past refusals.

    Each id gets an ``Outcome``; a refused one carries the server's reason, so a caller can
    say which were retracted (exit 1 when some failed).  A lost connection still raises.
    """
    from xiot.errors import RemoteError

    if not ids:
        raise UsageError("no item id to retract", "Give one or more item ids")
    done: list[Outcome] = []
    for item_id in ids:
        body = pubsub()
        attrs = {"node": node} | ({"notify": "true"} if notify else {})
        retract_el = ET.SubElement(body, q(NS, "retract"), attrs)
        ET.SubElement(retract_el, q(NS, "item"), {"id": item_id})
        try:
            await request(session, where.service, "set", body, "retract",
                          node, missing=f"item '{item_id}' of node '{node}'")
        except RemoteError as exc:
            done.append(Outcome(where.service, node, "retract", item_id, "failed",
                                exc.message))
        else:
            done.append(Outcome(where.service, node, "retract", item_id))
    return done
