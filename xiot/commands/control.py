"""``xiot control``: set parameters on devices and show their control forms (XEP-0325)."""

from __future__ import annotations

from typing import Any

import typer
from typer.core import TyperGroup

from xiot.commands import common, options


class _DeviceFirstGroup(TyperGroup):
    """``xiot control JID set ...``, or ``xiot control set -f FILE ...`` for a fleet.

    The group's JID comes before the subcommand; when the first word already is a
    subcommand, there is no JID and the subcommand must read its devices from a file.
    """

    def parse_args(self, ctx: Any, args: list[str]) -> list[str]:
        if args and args[0] in self.commands:
            args = ["", *args]
        return super().parse_args(ctx, args)


app = common.typer_app(
    cls=_DeviceFirstGroup,
    help="Set control parameters on devices, or show a control form (XEP-0325).",
    no_args_is_help=True,
    epilog="""\b
Examples:
  xiot control relay3@plant.example set Output=true
  xiot control thermo7@plant.example set Setpoint=21.5
  xiot control dimmer2@plant.example set Level:int=40 On:boolean=true
  xiot control thermo7@plant.example form
  xiot control gw@plant.example set --node Relay1 Output=false
  xiot control relay3@plant.example set Output=false --message     (no acknowledgement)
  xiot lab accounts --role device | xiot control set -f - Output=off  (a whole fleet)

\b
Types come from the device's control form unless given as NAME:TYPE=VALUE
(boolean, color, date, dateTime, double, duration, int, long, string, time).
Booleans may be written true/false, yes/no, on/off or 1/0.
Exit status: 0 when the device accepted, 1 when it refused (the failing parameters are
named), 7 when it refused the request as a whole.""",
)


@app.callback()
def control(
    ctx: typer.Context,
    jid: str = typer.Argument(..., autocompletion=lambda incomplete:
                              options.complete_jids(incomplete),
                              help="Device JID (bare: resolved from presence); "
                              "leave it out with 'set -f FILE'.", metavar="[JID]"),
) -> None:
    """Set control parameters on devices, or show a control form (XEP-0325)."""
    from xiot.xmpp.jid import parse_jid

    ctx.meta["control_target"] = parse_jid(jid) if jid else None


@app.command("set", epilog="""\b
Examples:
  xiot control relay3@plant.example set Output=true
  xiot control dimmer2@plant.example set Level=40 On=yes      both, or neither
  xiot control thermo7@plant.example set Setpoint:double=21.5 explicit type, no form fetched
  xiot control gw@plant.example set --node Relay1 Output=false
  xiot control set -f relays.txt Output=off -k 100           the same change on many devices
On a terminal each device is one line ("dev0003@x Output=true acknowledged in 5.5 ms");
piped, one record per device.
Exit status: 0 accepted, 1 refused (the parameters are named) or, for many devices, any
device not accepted; 7 a single device refused the request as a whole.""")
def set_(
    ctx: typer.Context,
    assignments: list[str] = typer.Argument(..., help="NAME=VALUE or NAME:TYPE=VALUE.",
                                            metavar="NAME[:TYPE]=VALUE..."),
    message: bool = typer.Option(False, "--message", help="Send in a message: no "
                                 "acknowledgement, no error report."),
    node: list[str] = options.node(),
    from_file: str | None = options.from_file("device JIDs (one per line, a CSV with a jid "
                                              "column, or NDJSON)"),
    concurrency: int = options.concurrency(50, 1000, "Devices set"),
) -> None:
    """Set one or more parameters in one request per device (all applied, or none)."""
    from xiot.iot.actions import Assignment

    parsed = [Assignment.parse(a) for a in assignments]
    targets = _targets(ctx, from_file)
    nodes = tuple(node or ())
    common.settings(ctx)
    rt = common.runtime(ctx)
    if len(targets) == 1 and from_file is None:
        from xiot.iot.actions import control_set

        result = rt.session_run(
            lambda session: control_set(session, targets[0], parsed, nodes, message))
        _show(ctx, result, _shown_values(parsed))
        _exit_for_one(ctx, result)
        return
    failed = rt.session_run(
        lambda session: _fleet(ctx, session, targets, parsed, nodes, message, concurrency))
    if failed:
        raise typer.Exit(1)


def _targets(ctx: typer.Context, from_file: str | None) -> list:  # type: ignore[type-arg]
    from xiot.commands.targets import collect_jids
    from xiot.errors import UsageError

    given = ctx.meta["control_target"]
    if given is None and from_file is None:
        raise UsageError("no device given", "Name a JID before 'set', or use "
                         "'xiot control set -f FILE' (- for stdin)")
    return collect_jids([str(given)] if given else [], from_file)


async def _fleet(ctx, session, targets, parsed, nodes, message, concurrency) -> int:  # type: ignore[no-untyped-def]
    from xiot.iot.actions import control_many
    from xiot.progress import FanOutProgress

    failed = 0
    view = _Lines(ctx, _shown_values(parsed))
    try:
        with FanOutProgress(len(targets), "setting") as progress:
            async for result in control_many(session, targets, parsed, nodes, message,
                                             concurrency):
                failed += not result.ok
                progress.advance(result.ok)
                view.show(result)
    finally:
        view.close()
    return failed


class _Lines:
    """One line per device on a terminal; one record per device otherwise."""

    def __init__(self, ctx: typer.Context, values: dict[str, str]) -> None:
        self.env = common.runtime(ctx).env
        self.values = values
        self.out = None if common.output_format(ctx) == "table" else common.sink(ctx)

    def show(self, result) -> None:  # type: ignore[no-untyped-def]
        if self.out is not None:
            self.out.emit(result.to_record())
            return
        from xiot.output import terminal_safe

        self.env.stdout.write(terminal_safe(_line(result, self.values)) + "\n")
        self.env.stdout.flush()

    def close(self) -> None:
        if self.out is not None:
            self.out.close()


def _line(result, values: dict[str, str]) -> str:  # type: ignore[no-untyped-def]
    """``dev0003@x Output=true acknowledged in 5.5 ms`` - what ``control set`` did, in words."""
    where = f" node {result.node}" if result.node else ""
    if result.ok and not result.acknowledged:
        return f"{result.jid}{where}: sent, no acknowledgement asked for"
    if result.ok:
        applied = " ".join(f"{name}={values[name]}" if name in values else name
                           for name in result.applied_parameters) or "the request"
        return f"{result.jid}{where} {applied} acknowledged in {result.elapsed_ms:.1f} ms"
    reason = result.error or result.condition or "no reason given"
    if result.failed_parameters:
        return f"{result.jid}{where} refused {', '.join(result.failed_parameters)}: {reason}"
    return f"{result.jid}{where} not set: {reason}"


def _shown_values(parsed) -> dict[str, str]:  # type: ignore[no-untyped-def]
    """What each parameter was set to, as a line shows it (yes/on written as true)."""
    from xiot.iot.actions import boolean_text, is_boolean_word

    return {a.name: boolean_text(a.text) if is_boolean_word(a.text) else a.text
            for a in parsed}


def _show(ctx: typer.Context, result, values: dict[str, str]) -> None:  # type: ignore[no-untyped-def]
    """One device: a line on a terminal, the result object as data."""
    if common.output_format(ctx) != "table":
        common.emit_one(ctx, result.to_record())
        return
    view = _Lines(ctx, values)
    view.show(result)
    view.close()


def _exit_for_one(ctx: typer.Context, result) -> None:  # type: ignore[no-untyped-def]
    if result.ok:
        return
    reason = result.error or result.condition or "no reason given"
    if result.failed_parameters:
        common.say(ctx, f"{result.jid} refused {', '.join(result.failed_parameters)}: "
                        f"{reason}")
        raise typer.Exit(1)
    common.say(ctx, f"{result.jid} refused the request: {reason}")
    raise typer.Exit(7)


@app.command("form", epilog="""\b
Examples:
  xiot control thermo7@plant.example form             types, ranges, current values
  xiot control gw@plant.example form --node Relay1 -o json | jq '.[].name'""")
def form(ctx: typer.Context, node: list[str] = options.node()) -> None:
    """Show the control form: each parameter's type, current value, range and options."""
    from xiot.errors import UsageError
    from xiot.iot.actions import FORM_COLUMNS, control_form, form_rows

    jid, nodes = ctx.meta["control_target"], tuple(node or ())
    if jid is None:
        raise UsageError("no device given", "Name the device: xiot control JID form")
    common.settings(ctx)
    data = common.runtime(ctx).session_run(lambda session: control_form(session, jid, nodes))
    rows = form_rows(data)
    if not rows:
        common.say(ctx, f"{jid} offers no control parameters"
                   + ("" if nodes else "; for a node behind a concentrator add --node NODE"))
    common.emit_all(ctx, rows, columns=FORM_COLUMNS, title=data.title)
