"""``xiot control``: set parameters on devices and show their control forms (XEP-0325)."""

from __future__ import annotations

import sys

import typer

from xiot.commands import common

app = common.typer_app(
    help="Set control parameters on a device, or show its control form (XEP-0325).",
    no_args_is_help=True,
    epilog="""\b
Examples:
  xiot control relay3@plant.example set Output=true
  xiot control thermo7@plant.example set Setpoint=21.5
  xiot control dimmer2@plant.example set Level:int=40 On:boolean=true
  xiot control thermo7@plant.example form
  xiot control gw@plant.example set --node Relay1 Output=false
  xiot control relay3@plant.example set Output=false --message     (no acknowledgement)

\b
Types come from the device's control form unless given as NAME:TYPE=VALUE
(boolean, color, date, dateTime, double, duration, int, long, string, time).
Exit status: 0 when the device accepted, 1 when it refused (the failing parameters are
named), 7 when it refused the request as a whole.""",
)


@app.callback()
def control(
    ctx: typer.Context,
    jid: str = typer.Argument(..., help="Device JID (bare: resolved from presence).",
                              metavar="JID"),
) -> None:
    """Set control parameters on a device, or show its control form (XEP-0325)."""
    from xiot.xmpp.jid import parse_jid

    ctx.meta["control_target"] = parse_jid(jid)


NODE = typer.Option(None, "--node", help="Node behind a concentrator (repeatable).",
                    show_default=False)


@app.command("set", epilog="""\b
Examples:
  xiot control relay3@plant.example set Output=true
  xiot control dimmer2@plant.example set Level=40 On=true     both, or neither
  xiot control thermo7@plant.example set Setpoint:double=21.5 explicit type, no form fetched
  xiot control gw@plant.example set --node Relay1 Output=false
Exit status: 0 accepted, 1 refused (the parameters are named), 7 refused as a whole.""")
def set_(
    ctx: typer.Context,
    assignments: list[str] = typer.Argument(..., help="NAME=VALUE or NAME:TYPE=VALUE.",
                                            metavar="NAME[:TYPE]=VALUE..."),
    message: bool = typer.Option(False, "--message", help="Send in a message: no "
                                 "acknowledgement, no error report."),
    node: list[str] = NODE,
) -> None:
    """Set one or more parameters in one request (all applied, or none)."""
    from xiot.iot.actions import Assignment

    jid, nodes = ctx.meta["control_target"], tuple(node or ())
    parsed = [Assignment.parse(a) for a in assignments]
    from xiot.iot.actions import control_set

    common.settings(ctx)
    result = common.runtime(ctx).session_run(
        lambda session: control_set(session, jid, parsed, nodes, message))
    out = common.sink(ctx, single=True, styles={"ok": {"yes": "green", "no": "red"}})
    out.emit(result.to_record())
    out.close()
    if not result.ok:
        reason = result.error or result.condition or "no reason given"
        if result.failed_parameters:
            print(f"xiot: {result.jid} refused {', '.join(result.failed_parameters)}: {reason}",
                  file=sys.stderr)
            raise typer.Exit(1)
        print(f"xiot: {result.jid} refused the request: {reason}", file=sys.stderr)
        raise typer.Exit(7)


@app.command("form", epilog="""\b
Examples:
  xiot control thermo7@plant.example form             types, ranges, current values
  xiot control gw@plant.example form --node Relay1 -o json | jq '.[].name'""")
def form(ctx: typer.Context, node: list[str] = NODE) -> None:
    """Show the control form: each parameter's type, current value, range and options."""
    from xiot.iot.actions import FORM_COLUMNS, form_rows

    jid, nodes = ctx.meta["control_target"], tuple(node or ())
    from xiot.iot.actions import control_form

    common.settings(ctx)
    data = common.runtime(ctx).session_run(lambda session: control_form(session, jid, nodes))
    rows = form_rows(data)
    if not rows:
        print(f"xiot: {jid} offers no control parameters"
              + ("" if nodes else "; for a node behind a concentrator add --node NODE"),
              file=sys.stderr)
    out = common.sink(ctx, columns=FORM_COLUMNS, title=data.title)
    for row in rows:
        out.emit(row)
    out.close()
