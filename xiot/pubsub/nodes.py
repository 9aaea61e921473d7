"""Nodes: list (and walk collection trees), info, create, delete, purge, configuration."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from xiot.errors import UsageError
from xiot.pubsub import config as cfg
from xiot.pubsub.core import (
    NODE_CONFIG,
    NS,
    NS_DATA,
    NS_OWNER,
    Target,
    child,
    pubsub,
    q,
    request,
    submit_form,
)
from xiot.pubsub.model import ConfigField, NodeEntry, NodeInfo
from xiot.xmpp.forms import DataForm, parse_form

NS_DISCO_INFO = "http://jabber.org/protocol/disco#info"

if TYPE_CHECKING:
    from xiot.xmpp.session import Session

#: How deep ``list --tree`` follows collections (a loop of collections cannot run away).
MAX_DEPTH = 16
MAX_NODES = 100_000


async def list_nodes(session: Session, where: Target, node: str | None = None,
                     tree: bool = False) -> list[NodeEntry]:
    """The nodes at the top of the service (or in collection ``node``).

    ``tree`` asks each node whether it is a collection and walks into the collections,
    depth first; nodes are listed once even if several collections hold them.
    """
    from xiot.xmpp.disco import get_items

    timeout = session.settings.timeout
    found: list[NodeEntry] = []
    seen: set[str] = set()

    async def walk(parent: str | None, depth: int) -> None:
        listing = await get_items(session, where.service, parent, timeout)
        for item in listing.items:
            if not item.node or item.node == parent or item.node in seen:
                continue
            seen.add(item.node)
            kind = await _node_type(session, where, item.node) if tree else None
            found.append(NodeEntry(where.service, item.node, item.name, kind, parent, depth))
            if len(found) >= MAX_NODES:
                return
            if kind == "collection" and depth < MAX_DEPTH:
                await walk(item.node, depth + 1)

    await walk(node, 0)
    return found


async def _node_type(session: Session, where: Target, node: str) -> str | None:
    from xiot.errors import RemoteError
    from xiot.xmpp.disco import get_info

    try:
        info = await get_info(session, where.service, node, session.settings.timeout)
    except RemoteError:
        return None
    return next((i.type for i in info.identities if i.category == "pubsub"), None)


async def info(session: Session, where: Target, node: str) -> NodeInfo:
    """A node's type (leaf or collection) and its meta-data (title, owners, subscribers...)."""
    body = ET.Element(q(NS_DISCO_INFO, "query"), {"node": node})
    result = await request(session, where.service, "get", body, "describe the node", node)
    query = child(result, q(NS_DISCO_INFO, "query"))
    kind = None
    meta: dict[str, Any] = {}
    for element in query if query is not None else ():
        if element.tag == q(NS_DISCO_INFO, "identity") and element.get("category") == "pubsub":
            kind = element.get("type")
        elif element.tag == q(NS_DATA, "x"):
            form = parse_form(element)
            form_type = form.field("FORM_TYPE")
            if form_type is not None and form_type.values == (NS + "#meta-data",):
                meta.update({f.var: cfg.current_value(f) for f in form.parameters})
    return NodeInfo(where.service, node, kind, meta)


async def create(session: Session, where: Target, node: str | None,
                 values: Mapping[str, Any] | None = None, collection: bool = False) -> str:
    """Create ``node`` (None: an instant node, named by the service) with a configuration.

    The values are checked against the service's default form first (when it offers one),
    so a bad value is reported before anything exists.  Returns the node's name.
    """
    values = dict(values or {})
    if collection:
        where.require("collections", "create a collection node")
        values["pubsub#node_type"] = "collection"
    if values.get("pubsub#node_type") == "collection":
        where.require("collections", "create a collection node")
    check_access(where, values)
    checked = cfg.check(values, await _default_form(session, where),
                        where.service, where.has("collections"))
    body = pubsub()
    ET.SubElement(body, q(NS, "create"), {"node": node} if node else {})
    if checked.lexical:
        configure = ET.SubElement(body, q(NS, "configure"))
        configure.append(submit_form(NODE_CONFIG, checked.lexical))
    result = await request(session, where.service, "set", body, "create the node", node)
    assigned = child(result, q(NS, "pubsub"), q(NS, "create"))
    return (assigned.get("node") if assigned is not None else None) or node or ""


async def _default_form(session: Session, where: Target) -> DataForm | None:
    """The service's default node configuration form, or None if it does not offer one."""
    from xiot.errors import RemoteError

    if not where.has("retrieve-default"):
        return None
    try:
        return await default_form(session, where)
    except RemoteError:
        return None


async def default_form(session: Session, where: Target) -> DataForm:
    where.require("retrieve-default", "show the default configuration")
    body = pubsub(owner=True)
    ET.SubElement(body, q(NS_OWNER, "default"))
    result = await request(session, where.service, "get", body, "send its default config")
    return _form_in(result, "default", where.service)


async def config_form(session: Session, where: Target, node: str) -> DataForm:
    """The node's configuration form as the service sends it to the owner."""
    body = pubsub(owner=True)
    ET.SubElement(body, q(NS_OWNER, "configure"), {"node": node})
    result = await request(session, where.service, "get", body, "read the configuration",
                           node)
    return _form_in(result, "configure", where.service)


def _form_in(result: ET.Element, tag: str, service: str) -> DataForm:
    from xiot.errors import RemoteError

    x = child(result, q(NS_OWNER, "pubsub"), q(NS_OWNER, tag), q(NS_DATA, "x"))
    if x is None:
        raise RemoteError(f"{service} sent no configuration form", condition="bad-request")
    return parse_form(x)


def config_fields(form: DataForm, service: str, node: str | None) -> list[ConfigField]:
    return [ConfigField(service, node, f.var, cfg.current_value(f), f.type, f.label,
                        tuple(o.value for o in f.options))
            for f in form.fields if f.type not in ("hidden", "fixed")]


async def get_config(session: Session, where: Target, node: str) -> list[ConfigField]:
    return config_fields(await config_form(session, where, node), where.service, node)


async def get_default(session: Session, where: Target) -> list[ConfigField]:
    return config_fields(await default_form(session, where), where.service, None)


def check_access(where: Target, values: Mapping[str, Any]) -> None:
    """The authorize access model only where the service advertises it (Prosody 0.12 offers
    it in its form but refuses it with not-acceptable)."""
    model = values.get("pubsub#access_model", values.get("access"))
    if model == "authorize":
        where.require("access-authorize", "use the authorize access model")


async def set_config(session: Session, where: Target, node: str, values: Mapping[str, Any]
                     ) -> list[ConfigField]:
    """Change the fields in ``values`` after checking them against the node's own form.

    Returns the fields that changed, with their new values (nothing is sent if none would).
    """
    if not values:
        raise UsageError("no configuration to set",
                         "Give options such as --title or --set pubsub#max_items=10")
    check_access(where, values)
    form = await config_form(session, where, node)
    checked = cfg.check(values, form, where.service, where.has("collections"))
    changed = {name: texts for name, texts in checked.lexical.items()
               if not cfg.same(form.field(name), checked.typed[name])}
    if changed:
        await submit_config(session, where, node, changed)
    return [ConfigField(where.service, node, name, _shown(checked.typed[name]),
                        form.field(name).type if form.field(name) else "text-single")
            for name in changed]


async def submit_config(session: Session, where: Target, node: str,
                        lexical: Mapping[str, tuple[str, ...]]) -> None:
    body = pubsub(owner=True)
    configure = ET.SubElement(body, q(NS_OWNER, "configure"), {"node": node})
    configure.append(submit_form(NODE_CONFIG, lexical))
    await request(session, where.service, "set", body, "configure the node", node)


def _shown(value: Any) -> Any:
    return list(value) if isinstance(value, tuple) else value


async def delete(session: Session, where: Target, node: str, redirect: str | None = None
                 ) -> None:
    """Delete ``node``; subscribers are told to go to ``redirect`` (a node name or a URI)."""
    body = pubsub(owner=True)
    delete_el = ET.SubElement(body, q(NS_OWNER, "delete"), {"node": node})
    if redirect:
        uri = redirect if redirect.startswith("xmpp:") else \
            f"xmpp:{where.service}?;node={redirect}"
        ET.SubElement(delete_el, q(NS_OWNER, "redirect"), {"uri": uri})
    await request(session, where.service, "set", body, "delete the node", node)


async def purge(session: Session, where: Target, node: str) -> None:
    """Remove every item of ``node`` (subscribers get a purge notification)."""
    body = pubsub(owner=True)
    ET.SubElement(body, q(NS_OWNER, "purge"), {"node": node})
    await request(session, where.service, "set", body, "purge the node", node)


async def exists(session: Session, where: Target, node: str) -> bool:
    """Whether ``node`` exists (disco#info answers item-not-found when it does not)."""
    from xiot.errors import RemoteError
    from xiot.xmpp.disco import get_info

    try:
        await get_info(session, where.service, node, session.settings.timeout)
    except RemoteError as exc:
        if exc.condition == "item-not-found":
            return False
        raise
    return True
