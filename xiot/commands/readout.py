"""``xiot readout``: read sensor values from one device or a thousand (XEP-0323)."""

from __future__ import annotations

import typer

from xiot.commands import common, options

app = common.typer_app()


@app.command(epilog="""\b
Examples:
  xiot readout thermo7@plant.example
  xiot readout dev0001@xiot.test dev0002@xiot.test --fields Temperature,Humidity
  xiot lab accounts -o csv | xiot readout --from-file - --concurrency 200 -o ndjson
  xiot readout meter1@plant.example --types historicalHour --from -24h
  xiot readout gw@plant.example --node Sensor1 --node Sensor2
  xiot readout thermo7@plant.example --watch 10        repeat every 10 s until Ctrl-C

\b
Bare JIDs are resolved to the device's connected resource from presence (you must be
subscribed to it); a full JID (user@domain/resource) is used as given.
One row per field: jid, node, name, value, unit, timestamp, status; a failed or partial
device adds a row whose 'error' says why (offline, timeout, rejected, the device's text).
Exit status: 0 if every device answered completely, 1 if any failed or was partial.""")
def readout(
    ctx: typer.Context,
    jids: list[str] = typer.Argument(None, help="Device JIDs.", show_default=False,
                                     metavar="[JID]..."),
    from_file: str | None = options.from_file("JIDs (one per line, a CSV with a jid column, "
                                              "or NDJSON with a jid key)"),
    fields: str | None = options.comma_list(
        "--fields", help="Only these field names (comma-separated).", metavar="NAME,..."),
    types: str | None = options.comma_list(
        "--types", metavar="TYPE,...", help="Categories to read [default: momentary]: "
        "momentary, peak, status, computed, identity, historical, historicalHour, ..., all.",
        autocompletion=lambda incomplete: _complete_types(incomplete)),
    from_: str | None = typer.Option(None, "--from", help="Start of a historical range "
                                     "(ISO 8601 or relative: -24h, -7d)."),
    to: str | None = typer.Option(None, "--to", help="End of a historical range."),
    node: list[str] = options.node(),
    concurrency: int = options.concurrency(100, 10000, "Readouts in flight"),
    watch: float | None = options.watch(),
    rounds: int | None = options.rounds(),
) -> None:
    """Read sensor values (XEP-0323) from devices, streaming rows as they arrive."""
    from xiot.commands.targets import collect_jids
    from xiot.errors import UsageError

    options.check_watch(watch, rounds)
    request = _request(fields or (), types or ("momentary",), from_, to, node or [])
    if (from_ or to) and not any(c.startswith("historical") for c in request.categories):
        raise UsageError("--from/--to select historical values",
                         "Add --types historical (or historicalHour, historicalDay, ...)")
    targets = collect_jids(jids or [], from_file)
    rt = common.runtime(ctx)
    common.settings(ctx)
    out = _open_output(ctx)
    try:
        failed = rt.run(lambda: rt.watch(
            lambda session, _number: _round(ctx, out, session, targets, request, concurrency),
            watch, rounds))
    finally:
        out.close()
    if failed:
        raise typer.Exit(1)


def _complete_types(incomplete: str) -> list[str]:
    """Complete the last name of a comma-separated --types value."""
    from xiot.iot.model import FIELD_CATEGORIES, REQUEST_SHORTHANDS

    done, _, last = incomplete.rpartition(",")
    prefix = f"{done}," if done else ""
    return [prefix + name for name in (*REQUEST_SHORTHANDS, *FIELD_CATEGORIES)
            if name.startswith(last)]


def _request(fields, types, from_, to, nodes):  # type: ignore[no-untyped-def]
    from xiot.iot.model import ReadoutRequest
    from xiot.timespec import parse_when

    return ReadoutRequest(
        fields=frozenset(fields),
        categories=frozenset(types),
        from_=parse_when(from_, "--from") if from_ else None,
        to=parse_when(to, "--to") if to else None,
        nodes=tuple(nodes),
    )


def _open_output(ctx: typer.Context):  # type: ignore[no-untyped-def]
    """One sink for the whole command: a CSV header or JSON document once, not per round.

    A table is printed per round (a person reads each round's view).
    """
    from xiot.iot.readout import ROW_COLUMNS, TABLE_COLUMNS
    from xiot.output import STATUS_STYLES

    table = common.output_format(ctx) == "table"
    return common.sink(ctx, columns=TABLE_COLUMNS if table else ROW_COLUMNS,
                       styles={"status": STATUS_STYLES}, autoflush=False)


async def _round(ctx, out, session, targets, request, concurrency) -> bool:  # type: ignore[no-untyped-def]
    """One readout of every target; True if any device failed or was partial."""
    from xiot.iot.readout import read_devices, reading_rows
    from xiot.progress import FanOutProgress

    failed = 0
    with FanOutProgress(len(targets), "reading") as progress:
        async for reading in read_devices(session, targets, request, session.settings.timeout,
                                          concurrency):
            failed += reading.status != "ok"
            progress.advance(reading.status == "ok")
            for row in reading_rows(reading):
                out.emit(row)
            out.flush()  # one write per device, not per field
    if common.output_format(ctx) == "table":
        out.close()  # a table per round
    return failed > 0
