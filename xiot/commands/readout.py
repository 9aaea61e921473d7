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
  xiot lab accounts --role device | xiot readout -f - --wide -o csv > fleet.csv
  xiot readout dev0001@xiot.test --columns name,value,unit

\b
Bare JIDs are resolved to the device's connected resource from presence (you must be
subscribed to it); a full JID (user@domain/resource) is used as given.
On a terminal rows are sorted by device and node, a category column appears when several
categories are read, and a summary ends each round on stderr ("50 devices, 200 values,
0 failed, 0.31 s").  --wide shows one row per device with its fields as columns;
--columns picks and orders columns in any format.
One row per field: jid, node, name, value, unit, timestamp, status; a failed or partial
device adds a row whose 'error' says why (offline, timeout, rejected, the device's text).
Exit status: 0 if every device answered completely, 1 if any failed or was partial.""")
def readout(
    ctx: typer.Context,
    jids: list[str] = typer.Argument(None, help="Device JIDs.", show_default=False,
                                     autocompletion=lambda incomplete:
                                     options.complete_jids(incomplete),
                                     metavar="[JID]..."),
    from_file: str | None = options.from_file("JIDs (one per line, a CSV with a jid column, "
                                              "or NDJSON with a jid key)"),
    fields: str | None = options.comma_list(
        "--fields", help="Only these field names (comma-separated).", metavar="NAME,..."),
    types: str | None = options.comma_list(
        "--types", metavar="TYPE,...", help="Categories to read [default: momentary]: "
        "momentary, peak, status, computed, identity, historical, historicalHour, ..., all.",
        autocompletion=lambda incomplete: _complete_types(incomplete)),
    from_: str | None = typer.Option(None, "--from", metavar="WHEN", help="Start of a "
                                     "historical range: ISO 8601 (2026-12-01T08:00, with Z, "
                                     "+02:00 or a zone name: '2026-12-01T08:00 Europe/Berlin') "
                                     "or relative (-24h, -7d). A time without a zone is this "
                                     "machine's local time."),
    to: str | None = typer.Option(None, "--to", metavar="WHEN", help="End of a historical "
                                  "range (same forms as --from; without a zone: local time)."),
    node: list[str] = options.node(),
    concurrency: int = options.concurrency(100, 10000, "Readouts in flight"),
    watch: float | None = options.watch(),
    rounds: int | None = options.rounds(),
    wide: bool = typer.Option(False, "--wide", help="One row per device with its fields as "
                              "columns (values with units)."),
    columns: str | None = options.comma_list("--columns", metavar="COLUMN,...",
                                             help="Only these columns, in this order."),
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
    view = _View(ctx, request, wide, columns, live=watch is not None)
    try:
        failed = rt.run(lambda: rt.watch(
            lambda session, _number: _round(view, session, targets, request, concurrency),
            watch, rounds))
    finally:
        view.close()
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


class _View:
    """Where rows go: streamed as data, or collected per round for a person or a pivot.

    One sink serves the whole command, so a CSV header or a JSON document is written once
    however many rounds a watch runs.  A table is printed per round, sorted by device; the
    wide view and ``--columns`` reshape rows before they reach the sink.
    """

    def __init__(self, ctx: typer.Context, request, wide: bool, columns, live: bool  # type: ignore[no-untyped-def]
                 ) -> None:
        from xiot.commands import readout_view
        from xiot.iot.readout import ROW_COLUMNS, TABLE_COLUMNS
        from xiot.output import STATUS_STYLES

        self.ctx = ctx
        fmt = common.output_format(ctx)
        self.table = fmt == "table"
        #: Text formats show each value as the device sent it ("18.0" stays "18.0"); JSON
        #: keeps the typed value, with the device's text in ``raw``.
        self.as_sent = fmt in ("table", "csv")
        self.wide = wide
        self.columns = columns
        self.env = common.runtime(ctx).env
        several = len(request.categories) > 1 or bool(
            set(request.categories) & {"all", "historical"})
        base = readout_view.table_columns(TABLE_COLUMNS, several) if self.table else ROW_COLUMNS
        self.buffered = self.table or wide
        live = live and self.table and self.env.stdout_isatty and not wide
        self.out = None if wide or live else common.sink(
            ctx, columns=readout_view.choose_columns(columns, base),
            styles={"status": STATUS_STYLES}, autoflush=False)
        self.rows: list = []
        self.project = (lambda row: row) if not columns else (
            lambda row: {name: row.get(name) for name in columns})
        self.live = None
        if live:
            from xiot.live import LiveTable

            shown = readout_view.choose_columns(columns, base)
            self.live = LiveTable(self.env.stdout, shown, key=_row_key,
                                  no_color=common.runtime(ctx).no_color,
                                  watched=("value", "unit", "status", "error"))

    def emit(self, rows) -> None:  # type: ignore[no-untyped-def]
        if self.buffered:
            self.rows += rows
            return
        for row in rows:
            self.out.emit(self.project(row))  # type: ignore[union-attr]
        self.out.flush()  # type: ignore[union-attr]  # one write per device, not per field

    def end_round(self, tally, seconds: float) -> None:  # type: ignore[no-untyped-def]
        from xiot.commands import readout_view
        from xiot.output import STATUS_STYLES

        if self.live is not None:
            self.live.show([self.project(r) for r in readout_view.sort_rows(self.rows)],
                           note=tally.line(seconds))
        elif self.wide:
            rows, available = readout_view.pivot(self.rows)
            chosen = readout_view.choose_columns(self.columns, available)
            common.emit_all(self.ctx, [{c: r.get(c) for c in chosen} for r in rows],
                            columns=chosen, styles={"status": STATUS_STYLES})
        elif self.table:
            for row in readout_view.sort_rows(self.rows):
                self.out.emit(self.project(row))  # type: ignore[union-attr]
            self.out.close()  # type: ignore[union-attr]  # a table per round
        self.rows = []
        if self.env.stderr_isatty and self.live is None:
            self.env.say(tally.line(seconds))

    def close(self) -> None:
        if self.live is not None:
            self.live.close()
        if self.out is not None:
            self.out.close()


def _row_key(row):  # type: ignore[no-untyped-def]
    """A row's identity across rounds: device, node, field (or its failure)."""
    return (row.get("jid"), row.get("node"), row.get("name"), row.get("error") is None)


async def _round(view, session, targets, request, concurrency) -> bool:  # type: ignore[no-untyped-def]
    """One readout of every target; True if any device failed or was partial."""
    import time

    from xiot.commands.readout_view import Tally
    from xiot.iot.readout import read_devices, reading_rows
    from xiot.progress import FanOutProgress

    tally = Tally()
    started = time.perf_counter()
    with FanOutProgress(len(targets), "reading") as progress:
        async for reading in read_devices(session, targets, request, session.settings.timeout,
                                          concurrency):
            tally.add(reading.status, len(reading.fields))
            progress.advance(reading.status == "ok")
            view.emit(reading_rows(reading, as_sent=view.as_sent))
    view.end_round(tally, time.perf_counter() - started)
    return tally.failed > 0
