"""``xiot nodes``: browse a concentrator's data sources and nodes (XEP-0326)."""

from __future__ import annotations

import typer

from xiot.commands import common, options

app = common.typer_app(
    help="Browse a concentrator's data sources and nodes (XEP-0326).",
    no_args_is_help=True,
    epilog="""\b
Examples:
  xiot nodes gw@plant.example sources             data sources behind the gateway
  xiot nodes gw@plant.example list                every node of every source
  xiot nodes gw@plant.example list --source Sim --parameters
  xiot nodes gw@plant.example info Sensor1
  xiot nodes gw@plant.example params Sensor1      the node's parameter form
  xiot nodes gw@plant.example capabilities
Read or control a node through the concentrator with readout/control --node:
  xiot readout gw@plant.example --node Sensor1
  xiot control gw@plant.example set --node Relay1 Output=true""",
)


@app.callback()
def nodes(ctx: typer.Context,
          jid: str = typer.Argument(..., help="Concentrator JID (bare: from presence).",
                                    autocompletion=lambda incomplete:
                                    options.complete_jids(incomplete),
                                    metavar="JID")) -> None:
    """Browse a concentrator's data sources and nodes (XEP-0326)."""
    from xiot.xmpp.jid import parse_jid

    ctx.meta["concentrator"] = parse_jid(jid)


def _with_concentrator(ctx: typer.Context, action):  # type: ignore[no-untyped-def]
    """Run ``action(session, full_jid, timeout)`` against the concentrator the user named."""
    from xiot.iot.actions import resolve_device

    common.settings(ctx)

    async def operation(session):  # type: ignore[no-untyped-def]
        timeout = session.settings.timeout
        full = await resolve_device(session, ctx.meta["concentrator"], timeout)
        return await action(session, full, timeout)

    return common.runtime(ctx).session_run(operation)


@app.command("capabilities", epilog="""\b
Examples:
  xiot nodes gw@plant.example capabilities
  xiot nodes gw@plant.example capabilities -o json | jq -r '.[].capability'""")
def capabilities(ctx: typer.Context) -> None:
    """The XEP-0326 operations the concentrator supports."""
    from xiot.iot.concentrator.client import get_capabilities

    names = _with_concentrator(
        ctx, lambda s, j, t: get_capabilities(s, j, timeout=t))
    common.emit_all(ctx, [{"capability": n} for n in names])


@app.command("sources", epilog="""\b
Examples:
  xiot nodes gw@plant.example sources
  xiot nodes gw@plant.example sources -o csv""")
def sources(ctx: typer.Context) -> None:
    """Every data source of the concentrator."""
    from xiot.iot.concentrator.client import get_all_data_sources

    found = _with_concentrator(
        ctx, lambda s, j, t: get_all_data_sources(s, j, timeout=t))
    common.emit_all(ctx, [s.to_record() for s in found],
                    columns=("source_id", "name", "has_children", "last_changed"))


NODE_COLUMNS = ("node", "source_id", "node_type", "display_name", "state", "is_readable",
                "is_controllable", "has_children", "parent_id", "parameters")


@app.command("list", epilog="""\b
Examples:
  xiot nodes gw@plant.example list
  xiot nodes gw@plant.example list --source Sim --parameters -o json""")
def list_nodes(
    ctx: typer.Context,
    source: list[str] = typer.Option(None, "--source", help="Only this data source "
                                     "(repeatable) [default: all].", show_default=False),
    parameters: bool = typer.Option(False, "--parameters", help="Include node parameters."),
) -> None:
    """The nodes of the concentrator's data sources."""
    from xiot.iot.concentrator.client import get_all_data_sources, get_all_nodes

    async def action(session, jid, timeout):  # type: ignore[no-untyped-def]
        ids = list(source or [s.source_id for s in
                              await get_all_data_sources(session, jid, timeout=timeout)])
        found = []
        for source_id in ids:
            found += await get_all_nodes(session, jid, source_id, parameters=parameters,
                                         timeout=timeout)
        return found

    found = _with_concentrator(ctx, action)
    common.emit_all(ctx, [n.to_record() for n in found], columns=NODE_COLUMNS)


@app.command("info", epilog="""\b
Examples:
  xiot nodes gw@plant.example info Sensor1
  xiot nodes gw@plant.example info Relay2 --source Sim -o json""")
def info(
    ctx: typer.Context,
    node: str = typer.Argument(..., help="Node id."),
    source: str | None = typer.Option(None, "--source", help="Data source of the node."),
) -> None:
    """What the concentrator says about one node, with its parameters."""
    from xiot.iot.concentrator.client import get_node
    from xiot.iot.model import NodeRef

    ref = NodeRef(node, source)
    found = _with_concentrator(
        ctx, lambda s, j, t: get_node(s, j, ref, parameters=True, messages=True, timeout=t))
    common.emit_all(ctx, [found.to_record()], columns=NODE_COLUMNS)


@app.command("params", epilog="""\b
Examples:
  xiot nodes gw@plant.example params Sensor1
  xiot nodes gw@plant.example params Relay1 -o json | jq '.[] | {name, value}'""")
def params(
    ctx: typer.Context,
    node: str = typer.Argument(..., help="Node id."),
    source: str | None = typer.Option(None, "--source", help="Data source of the node."),
) -> None:
    """The node's parameters as the concentrator lets them be edited (a typed form)."""
    from xiot.iot.actions import FORM_COLUMNS, form_rows
    from xiot.iot.concentrator.client import get_node_parameters_for_edit
    from xiot.iot.model import NodeRef

    ref = NodeRef(node, source)
    form = _with_concentrator(
        ctx, lambda s, j, t: get_node_parameters_for_edit(s, j, ref, timeout=t))
    common.emit_all(ctx, form_rows(form, all_fields=True), columns=FORM_COLUMNS)
