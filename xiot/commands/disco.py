"""``xiot disco``: XEP-0030 identities, features and items."""

from __future__ import annotations

import typer

from xiot.commands import common

app = common.typer_app()


@app.command(
    epilog="""\b
Examples:
  xiot --profile lab disco                       the server's identities and features
  xiot --profile lab disco --items               the server's items (components, ...)
  xiot --profile lab disco pubsub.xiot.test --items -o json | jq '.[].node'
  xiot --profile lab disco dev0001@xiot.test/sim       what a connected device supports

Rows have the keys kind (identity, feature, info, item), jid, node, category, type,
name and var.  An error answer exits with status 7.""",
)
def disco(
    ctx: typer.Context,
    jid: str | None = typer.Argument(None, help="JID to query [default: your server]."),
    node: str | None = typer.Option(None, "--node", help="Node to query."),
    items: bool = typer.Option(False, "--items", help="List items (disco#items) instead of "
                               "identities and features (disco#info)."),
) -> None:
    """Show what a JID is and supports (XEP-0030 disco#info) or its items (disco#items)."""
    from xiot.xmpp.disco import COLUMNS
    from xiot.xmpp.jid import parse_jid

    target = str(parse_jid(jid)) if jid else None
    common.settings(ctx)
    records = common.runtime(ctx).session_run(
        lambda session: _query(session, target, node, items))
    common.emit_all(ctx, records, columns=COLUMNS)


async def _query(session, target, node, items):  # type: ignore[no-untyped-def]
    from xiot.xmpp.disco import get_info, get_items

    dest = target or session.jid.domain
    timeout = session.settings.timeout
    if items:
        return (await get_items(session, dest, node, timeout)).to_records()
    return (await get_info(session, dest, node, timeout)).to_records()
