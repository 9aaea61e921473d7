"""``xiot pubsub``: XEP-0060 nodes, configuration, items, subscriptions and events."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import typer

from xiot.commands import common

app = common.typer_app(
    help="PubSub (XEP-0060): nodes, configuration, items, subscriptions, live events.",
    no_args_is_help=True,
    epilog="""\b
Examples:
  xiot pubsub list --tree                         every node, collections walked
  xiot pubsub create sensors/kitchen --access presence --max-items 100
  echo '<t xmlns="urn:x">21.5</t>' | xiot pubsub publish sensors/kitchen -
  xiot pubsub items sensors/kitchen --max 5 -o json
  xiot pubsub watch sensors/kitchen | jq .payload
  xiot pubsub apply nodes.yaml --dry-run

\b
The service is found on your server (disco), or given with --service JID
(env: XIOT_PUBSUB_SERVICE); --pep works on your own account's PEP nodes instead.
Values of --set and the typed options are checked against the server's own
configuration form before anything is sent.  Exit codes: 2 bad input (unknown
field, wrong value, bad XML), 7 the server refused (missing node, forbidden, a
feature it lacks), 1 some targets of a bulk operation failed.""",
)

SERVICE = typer.Option(None, "--service", metavar="JID", envvar="XIOT_PUBSUB_SERVICE",
                       show_default=False, show_envvar=False,
                       help="PubSub service [default: found on your server; "
                       "env: XIOT_PUBSUB_SERVICE].")
PEP = typer.Option(False, "--pep", help="Use your own account's PEP service (XEP-0163).")
NODE = typer.Argument(..., metavar="NODE", help="Node name.")

# Typed configuration options (create and config set).
ACCESS = typer.Option(None, "--access", metavar="MODEL", show_default=False,
                      help="open, presence, roster, authorize or whitelist.")
PUBLISH_MODEL = typer.Option(None, "--publish-model", metavar="MODEL", show_default=False,
                             help="publishers, subscribers or open.")
MAX_ITEMS = typer.Option(None, "--max-items", metavar="N|max", show_default=False,
                         help="Items the node keeps (a number, or 'max').")
PERSIST = typer.Option(None, "--persist/--no-persist", show_default=False,
                       help="Keep items in storage.")
NOTIFY_RETRACT = typer.Option(None, "--notify-retract/--no-notify-retract",
                              show_default=False, help="Tell subscribers of retractions.")
NOTIFY_DELETE = typer.Option(None, "--notify-delete/--no-notify-delete", show_default=False,
                             help="Tell subscribers when the node is deleted.")
NOTIFY_CONFIG = typer.Option(None, "--notify-config/--no-notify-config", show_default=False,
                             help="Tell subscribers of configuration changes.")
NOTIFY_SUB = typer.Option(None, "--notify-sub/--no-notify-sub", show_default=False,
                          help="Tell owners of new subscriptions.")
TITLE = typer.Option(None, "--title", show_default=False, help="pubsub#title.")
TYPE = typer.Option(None, "--type", metavar="NAMESPACE", show_default=False,
                    help="pubsub#type: the payload namespace.")
COLLECTION = typer.Option(None, "--collection", metavar="NODE", show_default=False,
                          help="Collection node(s) this node belongs to (XEP-0248).")
SET = typer.Option(None, "--set", metavar="FIELD=VALUE", show_default=False,
                   help="Any configuration field by name ('pubsub#' may be left out); "
                   "repeatable.")


def _config(access: str | None, publish_model: str | None, max_items: str | None,
            persist: bool | None, notify_retract: bool | None, notify_delete: bool | None,
            notify_config: bool | None, notify_sub: bool | None, title: str | None,
            type_: str | None, collection: str | None, sets: list[str] | None
            ) -> dict[str, Any]:
    from xiot.pubsub.config import parse_assignments

    typed = {"pubsub#access_model": access, "pubsub#publish_model": publish_model,
             "pubsub#max_items": max_items, "pubsub#persist_items": persist,
             "pubsub#notify_retract": notify_retract, "pubsub#notify_delete": notify_delete,
             "pubsub#notify_config": notify_config, "pubsub#notify_sub": notify_sub,
             "pubsub#title": title, "pubsub#type": type_, "pubsub#collection": collection}
    return {k: v for k, v in typed.items() if v is not None} | parse_assignments(sets or [])


def _run(ctx: typer.Context, operation: Any, **session_options: Any) -> Any:
    """Run ``operation(session, target)`` with the service resolved first."""
    common.settings(ctx)

    async def work(session: Any) -> Any:
        from xiot.pubsub.core import target

        params = ctx.meta.get("xiot_pubsub_target", {})
        where = await target(session, params.get("service"), params.get("pep", False))
        return await operation(session, where)

    return common.runtime(ctx).session_run(work, **session_options)


def _where(ctx: typer.Context, service: str | None, pep: bool) -> None:
    if service and pep:
        from xiot.errors import UsageError

        raise UsageError("--service and --pep exclude each other",
                         "--pep means your own account's PEP service")
    if service:
        from xiot.pubsub.core import check_jid

        service = check_jid(service, "service JID")
    ctx.meta["xiot_pubsub_target"] = {"service": service, "pep": pep}


def _exit_for(outcomes: list[Any]) -> None:
    """Exit 1 when some targets of a bulk operation failed (each is in the output)."""
    failed = [o for o in outcomes if o.failed]
    if failed:
        raise typer.Exit(1)


# ------------------------------------------------------------------------------ service


@app.command("features", epilog="""\b
Examples:
  xiot pubsub features                     what the service offers
  xiot pubsub features --pep -o json       your PEP service""")
def features(ctx: typer.Context, service: str | None = SERVICE, pep: bool = PEP) -> None:
    """List the PubSub features the service advertises (disco#info)."""
    from xiot.pubsub.core import NS

    _where(ctx, service, pep)

    async def op(session: Any, where: Any) -> list[dict[str, Any]]:
        return [{"service": where.service, "feature": f.removeprefix(NS + "#")}
                for f in sorted(where.features) if f.startswith(NS + "#")]

    common.emit_all(ctx, _run(ctx, op), columns=("service", "feature"))


# -------------------------------------------------------------------------------- nodes


@app.command("list", epilog="""\b
Examples:
  xiot pubsub list
  xiot pubsub list --tree -o json | jq -r '.[] | "\\(.depth) \\(.node)"'
  xiot pubsub list sensors                 the nodes in collection 'sensors'""")
def list_(
    ctx: typer.Context,
    node: str | None = typer.Argument(None, metavar="[COLLECTION]",
                                      help="List the nodes in this collection."),
    tree: bool = typer.Option(False, "--tree", help="Tell leaf from collection and walk into "
                              "collections (one more request per node)."),
    service: str | None = SERVICE, pep: bool = PEP,
) -> None:
    """List nodes (disco#items); --tree walks collection nodes recursively."""
    from xiot.pubsub import nodes
    from xiot.pubsub.model import NODE_COLUMNS

    _where(ctx, service, pep)
    found = _run(ctx, lambda s, w: nodes.list_nodes(s, w, node, tree))
    common.emit_all(ctx, [n.to_record() for n in found], columns=NODE_COLUMNS)


@app.command("info", epilog="""\b
Examples:
  xiot pubsub info sensors/kitchen
  xiot pubsub info sensors/kitchen -o json | jq .num_subscribers""")
def info(ctx: typer.Context, node: str = NODE, service: str | None = SERVICE,
         pep: bool = PEP) -> None:
    """Show a node's type (leaf or collection) and meta-data."""
    from xiot.pubsub import nodes

    _where(ctx, service, pep)
    found = _run(ctx, lambda s, w: nodes.info(s, w, node))
    common.emit_one(ctx, found.to_record())


@app.command("create", epilog="""\b
Examples:
  xiot pubsub create sensors/kitchen --title Kitchen --max-items 50
  xiot pubsub create sensors --collection-node          a collection (XEP-0248)
  xiot pubsub create --set pubsub#access_model=open     an instant node, named by the service
  xiot pubsub create status --pep --access presence""")
def create(
    ctx: typer.Context,
    node: str | None = typer.Argument(None, metavar="[NODE]",
                                      help="Node name [default: an instant node]."),
    collection_node: bool = typer.Option(False, "--collection-node",
                                         help="Create a collection node, not a leaf."),
    access: str | None = ACCESS, publish_model: str | None = PUBLISH_MODEL,
    max_items: str | None = MAX_ITEMS, persist: bool | None = PERSIST,
    notify_retract: bool | None = NOTIFY_RETRACT, notify_delete: bool | None = NOTIFY_DELETE,
    notify_config: bool | None = NOTIFY_CONFIG, notify_sub: bool | None = NOTIFY_SUB,
    title: str | None = TITLE, type_: str | None = TYPE, collection: str | None = COLLECTION,
    sets: list[str] | None = SET, service: str | None = SERVICE, pep: bool = PEP,
) -> None:
    """Create a leaf or collection node with a configuration."""
    from xiot.pubsub import nodes

    _where(ctx, service, pep)
    values = _config(access, publish_model, max_items, persist, notify_retract, notify_delete,
                     notify_config, notify_sub, title, type_, collection, sets)

    async def op(session: Any, where: Any) -> dict[str, Any]:
        made = await nodes.create(session, where, node, values, collection_node)
        return {"service": where.service, "node": made,
                "type": "collection" if collection_node else "leaf", "action": "created"}

    common.emit_one(ctx, _run(ctx, op))


@app.command("delete", epilog="""\b
Examples:
  xiot pubsub delete sensors/old
  xiot pubsub delete sensors/old --redirect sensors/new   subscribers are told where to go""")
def delete(
    ctx: typer.Context, node: str = NODE,
    redirect: str | None = typer.Option(None, "--redirect", metavar="NODE|URI",
                                        show_default=False,
                                        help="Node (or xmpp: URI) subscribers should use."),
    service: str | None = SERVICE, pep: bool = PEP,
) -> None:
    """Delete a node (its items and subscriptions go with it)."""
    from xiot.pubsub import nodes

    _where(ctx, service, pep)

    async def op(session: Any, where: Any) -> dict[str, Any]:
        await nodes.delete(session, where, node, redirect)
        return {"service": where.service, "node": node, "action": "deleted",
                "redirect": redirect}

    common.emit_one(ctx, _run(ctx, op))


@app.command("purge", epilog="""\b
Examples:
  xiot pubsub purge sensors/kitchen""")
def purge(ctx: typer.Context, node: str = NODE, service: str | None = SERVICE,
          pep: bool = PEP) -> None:
    """Remove every item of a node."""
    from xiot.pubsub import nodes

    _where(ctx, service, pep)

    async def op(session: Any, where: Any) -> dict[str, Any]:
        await nodes.purge(session, where, node)
        return {"service": where.service, "node": node, "action": "purged"}

    common.emit_one(ctx, _run(ctx, op))


# ------------------------------------------------------------------------ configuration

config_app = common.typer_app(
    help="A node's configuration: get, set (checked against the server's form), default.",
    no_args_is_help=True,
    epilog="""\b
Examples:
  xiot pubsub config get sensors/kitchen
  xiot pubsub config set sensors/kitchen --access whitelist --max-items max
  xiot pubsub config default""")
app.add_typer(config_app, name="config")


@config_app.command("get", epilog="""\b
Examples:
  xiot pubsub config get sensors/kitchen
  xiot pubsub config get sensors/kitchen -o json | jq -r '.[] | "\\(.field)=\\(.value)"'""")
def config_get(ctx: typer.Context, node: str = NODE, service: str | None = SERVICE,
               pep: bool = PEP) -> None:
    """Show a node's configuration: each field, its value, type and allowed values."""
    from xiot.pubsub import nodes
    from xiot.pubsub.model import CONFIG_COLUMNS

    _where(ctx, service, pep)
    found = _run(ctx, lambda s, w: nodes.get_config(s, w, node))
    common.emit_all(ctx, [f.to_record() for f in found], columns=CONFIG_COLUMNS)


@config_app.command("set", epilog="""\b
Examples:
  xiot pubsub config set sensors/kitchen --title Kitchen --no-persist
  xiot pubsub config set sensors/kitchen --set pubsub#deliver_payloads=false
  xiot pubsub config set sensors/kitchen --notify-config --notify-delete

\b
Only fields whose value differs are sent; the output lists what changed.""")
def config_set(
    ctx: typer.Context, node: str = NODE,
    access: str | None = ACCESS, publish_model: str | None = PUBLISH_MODEL,
    max_items: str | None = MAX_ITEMS, persist: bool | None = PERSIST,
    notify_retract: bool | None = NOTIFY_RETRACT, notify_delete: bool | None = NOTIFY_DELETE,
    notify_config: bool | None = NOTIFY_CONFIG, notify_sub: bool | None = NOTIFY_SUB,
    title: str | None = TITLE, type_: str | None = TYPE, collection: str | None = COLLECTION,
    sets: list[str] | None = SET, service: str | None = SERVICE, pep: bool = PEP,
) -> None:
    """Change a node's configuration; every value is checked against its form first."""
    from xiot.pubsub import nodes
    from xiot.pubsub.model import CONFIG_COLUMNS

    _where(ctx, service, pep)
    values = _config(access, publish_model, max_items, persist, notify_retract, notify_delete,
                     notify_config, notify_sub, title, type_, collection, sets)
    changed = _run(ctx, lambda s, w: nodes.set_config(s, w, node, values))
    if not changed:
        common.say(ctx, f"node '{node}' already has that configuration; nothing sent")
    common.emit_all(ctx, [f.to_record() for f in changed], columns=CONFIG_COLUMNS)


@config_app.command("default", epilog="""\b
Examples:
  xiot pubsub config default
  xiot pubsub config default -o json | jq '.[] | select(.field=="pubsub#max_items")'""")
def config_default(ctx: typer.Context, service: str | None = SERVICE,
                   pep: bool = PEP) -> None:
    """Show the configuration a new node gets on this service."""
    from xiot.pubsub import nodes
    from xiot.pubsub.model import CONFIG_COLUMNS

    _where(ctx, service, pep)
    found = _run(ctx, lambda s, w: nodes.get_default(s, w))
    common.emit_all(ctx, [f.to_record() for f in found], columns=CONFIG_COLUMNS)


# -------------------------------------------------------------------------------- items


@app.command("publish", epilog="""\b
Examples:
  xiot pubsub publish sensors/kitchen reading.xml
  echo '<t xmlns="urn:x">21.5</t>' | xiot pubsub publish sensors/kitchen - --id now
  echo '{"t": 21.5}' | xiot pubsub publish sensors/kitchen - --json
  tail -f log.ndjson | xiot pubsub publish sensors/kitchen - --json --lines
  xiot pubsub publish sensors/kitchen r.xml --option access_model=open

\b
--json wraps the JSON document in <json xmlns="urn:xmpp:json:0"> (XEP-0335).
XML with a DOCTYPE is refused.  Prints each item with the id the service gave it.""")
def publish(
    ctx: typer.Context, node: str = NODE,
    payload: str | None = typer.Argument(None, metavar="[PAYLOAD|-]",
                                         help="File holding the payload; '-' for stdin "
                                         "[default: an item without payload]."),
    item_id: str | None = typer.Option(None, "--id", help="Item id [default: the service "
                                       "picks one]."),
    as_json: bool = typer.Option(False, "--json", help="The payload is JSON (wrapped in a "
                                 "XEP-0335 container)."),
    lines: bool = typer.Option(False, "--lines", help="Publish each line of the input as "
                               "its own item."),
    option: list[str] | None = typer.Option(None, "--option", metavar="FIELD=VALUE",
                                            show_default=False,
                                            help="Publish option (precondition), repeatable."),
    service: str | None = SERVICE, pep: bool = PEP,
) -> None:
    """Publish an item (XML or JSON payload from a file or stdin)."""
    from xiot.pubsub import items
    from xiot.pubsub.config import parse_assignments
    from xiot.pubsub.model import ITEM_COLUMNS

    _where(ctx, service, pep)
    options = parse_assignments(option or [], "--option")
    payloads = _payloads(ctx, payload, as_json, lines)
    if item_id and len(payloads) > 1:
        from xiot.errors import UsageError

        raise UsageError("--id names one item, but --lines gave several",
                         "Leave --id out to let the service number them")
    out = common.sink(ctx, columns=ITEM_COLUMNS)

    async def op(session: Any, where: Any) -> None:
        for element in payloads:
            out.emit((await items.publish(session, where, node, element, item_id,
                                          options)).to_record())

    try:
        _run(ctx, op)
    finally:
        out.close()


def _payloads(ctx: typer.Context, source: str | None, as_json: bool, lines: bool
              ) -> list[Any]:
    """Every payload to publish, parsed (and refused) before any connection is made."""
    from xiot.errors import UsageError
    from xiot.pubsub.payload import parse_json, parse_xml

    if source is None:
        if lines or as_json:
            raise UsageError("--json and --lines need a payload", "Give a file, or '-' for stdin")
        return [None]
    if source == "-":
        text, name = common.runtime(ctx).env.stdin.read(), "stdin"
    else:
        try:
            text, name = Path(source).read_text(encoding="utf-8"), source
        except (OSError, UnicodeDecodeError) as exc:
            raise UsageError(f"cannot read payload {source}: {exc}") from None
    parse = parse_json if as_json else parse_xml
    if not lines:
        return [parse(text, name)]
    chunks = [(n, line) for n, line in enumerate(text.splitlines(), 1) if line.strip()]
    if not chunks:
        raise UsageError(f"{name} holds no line to publish")
    return [parse(line, f"{name}:{n}") for n, line in chunks]


@app.command("items", epilog="""\b
Examples:
  xiot pubsub items sensors/kitchen --max 10
  xiot pubsub items sensors/kitchen --id now --id before -o json | jq '.[].json'""")
def items_(
    ctx: typer.Context, node: str = NODE,
    max_items: int | None = typer.Option(None, "--max", min=1, metavar="N",
                                         show_default=False, help="The newest N items."),
    ids: list[str] | None = typer.Option(None, "--id", show_default=False,
                                         help="Only this item (repeatable)."),
    service: str | None = SERVICE, pep: bool = PEP,
) -> None:
    """Fetch a node's items; JSON container payloads also appear decoded in 'json'."""
    from xiot.pubsub import items
    from xiot.pubsub.model import ITEM_COLUMNS

    _where(ctx, service, pep)
    found = _run(ctx, lambda s, w: items.get_items(s, w, node, max_items, ids or ()))
    common.emit_all(ctx, [i.to_record() for i in found], columns=ITEM_COLUMNS)


@app.command("retract", epilog="""\b
Examples:
  xiot pubsub retract sensors/kitchen now before
  xiot pubsub retract sensors/kitchen old --no-notify

\b
Each id is reported; exit 1 if some could not be retracted.""")
def retract(
    ctx: typer.Context, node: str = NODE,
    ids: list[str] = typer.Argument(..., metavar="ID...", help="Item ids."),
    notify: bool = typer.Option(True, "--notify/--no-notify",
                                help="Ask the service to tell subscribers."),
    service: str | None = SERVICE, pep: bool = PEP,
) -> None:
    """Retract (delete) items from a node."""
    from xiot.pubsub import items
    from xiot.pubsub.model import OUTCOME_COLUMNS

    _where(ctx, service, pep)
    done = _run(ctx, lambda s, w: items.retract(s, w, node, ids, notify))
    common.emit_all(ctx, [o.to_record() for o in done], columns=OUTCOME_COLUMNS)
    _exit_for(done)


# Subscriptions, affiliations, watch and apply register on ``app`` from a module of their own.
from xiot.commands import pubsub_more  # noqa: E402,F401
