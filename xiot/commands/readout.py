"""``xiot readout``: read sensor values from one device or a thousand (XEP-0323)."""

from __future__ import annotations

import typer

from xiot.commands import common

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
    jids: list[str] = typer.Argument(None, help="Device JIDs.", show_default=False),
    from_file: str | None = typer.Option(None, "--from-file", "-f", help="File of JIDs, "
                                         "one per line or a CSV with a jid column; - for stdin."),
    fields: str | None = typer.Option(None, "--fields", help="Comma-separated field names."),
    types: str = typer.Option("momentary", "--types", help="Comma-separated categories: "
                              "momentary, peak, status, computed, identity, historical, "
                              "historicalHour, ..., all.",
                              autocompletion=lambda incomplete: _complete_types(incomplete)),
    from_: str | None = typer.Option(None, "--from", help="Start of a historical range: "
                                     "ISO 8601 (2026-12-01T08:00, with Z, +02:00 or a zone "
                                     "name: '2026-12-01T08:00 Europe/Berlin') or relative "
                                     "(-24h, -7d). A time without a zone is this machine's "
                                     "local time."),
    to: str | None = typer.Option(None, "--to", help="End of a historical range (same forms "
                                  "as --from; without a zone: local time)."),
    node: list[str] = typer.Option(None, "--node", help="Node behind a concentrator "
                                   "(repeatable).", show_default=False),
    concurrency: int = typer.Option(100, "--concurrency", "-k", min=1, max=10000,
                                    help="Readouts in flight at once."),
    watch: float | None = typer.Option(None, "--watch", min=0.5, help="Repeat every N "
                                       "seconds until Ctrl-C."),
    rounds: int | None = typer.Option(None, "--rounds", min=1, help="With --watch: stop "
                                      "after this many rounds."),
) -> None:
    """Read sensor values (XEP-0323) from devices, streaming rows as they arrive."""
    from xiot.commands.targets import collect_jids
    from xiot.errors import UsageError

    if rounds is not None and watch is None:
        raise UsageError("--rounds needs --watch", "For example: --watch 10 --rounds 6")
    request = _request(fields, types, from_, to, node or [])
    if (from_ or to) and not any(c.startswith("historical") for c in request.categories):
        raise UsageError("--from/--to select historical values",
                         "Add --types historical (or historicalHour, historicalDay, ...)")
    targets = collect_jids(jids or [], from_file)
    rt = common.runtime(ctx)
    common.settings(ctx)
    failed = rt.session_run(lambda session: _run(ctx, session, targets, request, concurrency,
                                                 watch, rounds))
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
        fields=frozenset(f.strip() for f in (fields or "").split(",") if f.strip()),
        categories=frozenset(t.strip() for t in types.split(",") if t.strip()),
        from_=parse_when(from_, "--from") if from_ else None,
        to=parse_when(to, "--to") if to else None,
        nodes=tuple(nodes),
    )


async def _run(ctx, session, targets, request, concurrency, watch, rounds) -> int:  # type: ignore[no-untyped-def]
    import asyncio

    failed = 0
    number = 0
    while True:
        number += 1
        failed = await _round(ctx, session, targets, request, concurrency,
                              session.settings.timeout)
        if watch is None or (rounds is not None and number >= rounds):
            return failed
        await asyncio.sleep(watch)


async def _round(ctx, session, targets, request, concurrency, timeout) -> int:  # type: ignore[no-untyped-def]
    from xiot.iot.readout import ROW_COLUMNS, TABLE_COLUMNS, read_devices, reading_rows
    from xiot.output import STATUS_STYLES
    from xiot.progress import FanOutProgress

    table = common.output_format(ctx) == "table"
    out = common.sink(ctx, columns=TABLE_COLUMNS if table else ROW_COLUMNS,
                      styles={"status": STATUS_STYLES}, autoflush=False)
    failed = 0
    try:
        with FanOutProgress(len(targets), "reading") as progress:
            async for reading in read_devices(session, targets, request, timeout,
                                              concurrency):
                failed += reading.status != "ok"
                progress.advance(reading.status == "ok")
                for row in reading_rows(reading):
                    out.emit(row)
                out.flush()  # one write per device, not per field
    finally:
        out.close()
    return failed
