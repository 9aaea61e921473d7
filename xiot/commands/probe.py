"""``xiot probe``: DNS, TLS, stream and HTTP checks of XMPP domains, before anyone logs in."""

from __future__ import annotations

import sys
from enum import StrEnum
from typing import Any

import typer

from xiot.commands import common, options

app = common.typer_app()

MONITORING = ("nagios", "openmetrics")


class Kind(StrEnum):
    """Which services to probe."""

    client = "client"
    server = "server"
    both = "both"


@app.command(
    epilog="""\b
Examples:
  xiot probe example.org                         everything, as a table on a terminal
  xiot probe example.org example.net -o ndjson   many domains in parallel, one line per check
  xiot probe -f domains.txt --only dns,tls       just DNS and TLS for a list (- for stdin)
  xiot probe example.org --kind client --s2s-from probe.example.net
  xiot probe example.org --skip web -o nagios    a Nagios/Icinga check with perfdata
  xiot probe example.org -o openmetrics > /var/lib/node_exporter/xmpp.prom
  xiot probe example.org --watch 60              re-probe every minute: a live view on a
                                                 terminal, the changed checks when piped
  xiot --profile ops probe example.org --login   also log in, bind and ping

\b
Check groups (for --only/--skip; ids like tls.expiry work too):
  dns tcp tls stream sasl s2s web login
Selecting checks that cannot run (--only login without --login,
--only s2s with --kind client) is a usage error.  So is --tls none (also from a profile or
XIOT_TLS): the probe examines TLS itself and never logs in without it.

\b
Check status:
  ok    passed
  note  advice, nothing is broken (e.g. no SCRAM-*-PLUS channel binding,
        no ALPN on direct TLS, no stream management after login): shown, never
        changes the exit status, the Nagios state or an OpenMetrics alert
  warn  needs action (e.g. a certificate close to expiry, STARTTLS not
        required, a CNAME as SRV target): Nagios WARNING
  fail  broken (exit status 1, Nagios CRITICAL)
  skip  not checked; the message says why

\b
Exit status: 0 if no check failed, 1 if any did, 2 bad input, 4 resolver unreachable or
answering garbage.  With -o nagios the Nagios plugin codes apply instead: 0 OK (notes
included), 1 WARNING, 2 CRITICAL, 3 UNKNOWN (the probe could not run).""",
)
def probe(
    ctx: typer.Context,
    domains: list[str] | None = typer.Argument(None, help="XMPP domains to probe."),
    from_file: str | None = options.from_file("domains (one per line, a CSV with a domain "
                                              "column, or NDJSON)"),
    resolver: str | None = typer.Option(None, "--resolver", metavar="IP[:PORT]",
                                        help="Ask this DNS server for every look-up."),
    only: list[str] = typer.Option([], "--only", metavar="GROUPS",
                                   help="Only these check groups or ids (comma-separated)."),
    skip: list[str] = typer.Option([], "--skip", metavar="GROUPS",
                                   help="Leave out these check groups or ids."),
    kind: Kind = typer.Option(Kind.both, "--kind", help="Client services, server services "
                              "or both."),
    warn_days: float = typer.Option(30.0, "--warn-days", min=0,
                                    help="Warn when a certificate expires within DAYS."),
    crit_days: float = typer.Option(7.0, "--crit-days", min=0,
                                    help="Fail when a certificate expires within DAYS."),
    login: bool = typer.Option(False, "--login", help="Also log in with the profile's "
                               "account: auth time, bind, XEP-0199 ping."),
    web_base: str | None = typer.Option(None, "--web-base", metavar="URL",
                                        help="Fetch host-meta from URL instead of "
                                        "https://DOMAIN (the Host header stays the domain)."),
    s2s_from: str | None = typer.Option(None, "--s2s-from", metavar="DOMAIN",
                                        help="'from' of our s2s stream headers."),
    concurrency: int = options.concurrency(100, 1024, "Domains probed"),
    watch: float | None = options.watch(),
    rounds: int | None = options.rounds(),
) -> None:
    """Check XMPP domains: SRV records, every endpoint's TLS and certificate, stream features,
    SASL, s2s, host-meta/BOSH/WebSocket, and optionally a login."""
    from xiot.errors import UsageError, XiotError
    from xiot.output import ALL_FORMATS

    rt = common.runtime(ctx)
    fmt = rt.output_format(ALL_FORMATS)
    try:
        options.check_watch(watch, rounds)
        names = _domains(domains or [], from_file)
        probe_options = _options(ctx, names, resolver, only, skip, kind.value, warn_days,
                                 crit_days, login, web_base, s2s_from, concurrency)
        if fmt in MONITORING and watch is not None:
            raise UsageError(f"--watch cannot be combined with -o {fmt}",
                             "Let the monitoring system schedule the probe")
        if watch is not None:
            failed = rt.run(lambda: _watch(ctx, names, probe_options, watch, rounds or 0))
        else:
            failed = rt.run(lambda: _once(ctx, fmt, names, probe_options))
    except XiotError as exc:
        if fmt != "nagios":
            raise
        from xiot.probes.render import nagios_unknown

        sys.stdout.write(nagios_unknown(exc.one_line()) + "\n")
        sys.stderr.write(f"xiot: {exc.one_line()}\n")
        raise typer.Exit(3) from None
    raise typer.Exit(failed)


def _domains(given: list[str], from_file: str | None) -> list[str]:
    from xiot.errors import UsageError

    names = list(given)
    if from_file is not None:  # one per line, a CSV with a domain column, or NDJSON
        from xiot.records import read_records

        found = (r.value.split("#", 1)[0].strip() for r in read_records(from_file, "domain"))
        names += [name for name in found if name]
    if not names:
        raise UsageError("no domain to probe", "Give one or more domains, or -f FILE")
    return names


def _options(ctx: typer.Context, names: list[str], resolver: str | None, only: list[str],
             skip: list[str], kind: str, warn_days: float, crit_days: float, login: bool,
             web_base: str | None, s2s_from: str | None, concurrency: int) -> Any:
    from xiot.errors import UsageError
    from xiot.probes.runner import ProbeOptions, check_selection
    from xiot.xmpp.dns import parse_resolver

    # Domains are validated once, by the probe run itself, before anything is sent.
    kinds = {"client": ("client",), "server": ("server",), "both": ("client", "server")}
    if kind not in kinds:
        raise UsageError(f"unknown --kind {kind!r}", "Use client, server or both")
    if crit_days > warn_days:
        raise UsageError("--crit-days is larger than --warn-days",
                         "The critical threshold must be the nearer one")
    cfg = common.settings(ctx, monitoring_output=True)
    if cfg.tls == "none":
        raise UsageError("probe does not take --tls none",
                         "The probe examines each endpoint's TLS itself and logs in only "
                         "over TLS; leave out --tls none (or the profile's 'tls: none')")
    return ProbeOptions(
        resolver=parse_resolver(resolver) if resolver else None, timeout=cfg.timeout,
        ca=cfg.ca, warn_days=warn_days, crit_days=crit_days, kinds=kinds[kind],  # type: ignore[arg-type]
        only=check_selection(only), skip=check_selection(skip), web_base=web_base,
        login=cfg if login else None, concurrency=concurrency, s2s_from=s2s_from,
    )


async def _once(ctx: typer.Context, fmt: str, names: list[str], options: Any) -> int:
    from xiot.output import STATUS_STYLES
    from xiot.probes import render
    from xiot.probes.report import RECORD_KEYS
    from xiot.probes.runner import probe_many

    results = []
    if fmt in ("ndjson", "json"):
        out = common.sink(ctx, columns=RECORD_KEYS)
        try:
            async for result in probe_many(names, options):
                results.append(result)
                for record in result.to_records():
                    out.emit(record)
        finally:
            out.close()
    else:
        results = [result async for result in probe_many(names, options)]
    if fmt == "csv":
        records = [record for result in results for record in result.to_records()]
        common.emit_all(ctx, records, columns=csv_columns(records))
    elif fmt == "table":
        out = common.sink(ctx, columns=render.TABLE_COLUMNS, styles={"status": STATUS_STYLES},
                          group_by=("domain", "endpoint"))
        for row in render.table_rows(results):
            out.emit(row)
        out.close()
        common.say(ctx, render.summary_line(results))
    elif fmt == "nagios":
        line, code = render.nagios(results)
        sys.stdout.write(line + "\n")
        return code
    elif fmt == "openmetrics":
        sys.stdout.write(render.openmetrics(results))
    return int(any(result.failed for result in results))


def csv_columns(records: list[dict[str, Any]]) -> tuple[str, ...]:
    """The fixed record keys, then every ``details.*`` key of the run, sorted: one header
    for the whole run, so each row has the same columns (empty where a check has no such
    detail)."""
    from xiot.probes.report import RECORD_KEYS

    details = sorted({key for record in records for key in record if key not in RECORD_KEYS})
    return (*RECORD_KEYS, *details)


async def _watch(ctx: typer.Context, names: list[str], options: Any, interval: float,
                 rounds: int) -> int:
    """Probe every ``interval`` seconds.  On a terminal: one live view of every check,
    redrawn in place with what changed in bold; piped: the changed checks of each round as
    records (one sink for the whole run).  1 if any round had a failed check."""
    from xiot.output import STATUS_STYLES
    from xiot.probes import render
    from xiot.probes.runner import watch

    rt = common.runtime(ctx)
    live_view = common.output_format(ctx) == "table" and rt.env.stdout_isatty
    columns = ("round", *render.TABLE_COLUMNS, "previous")
    out = None if live_view else common.sink(ctx, columns=columns,
                                             styles={"status": STATUS_STYLES})
    live = None
    if live_view:
        from xiot.live import LiveTable

        live = LiveTable(rt.env.stdout, render.TABLE_COLUMNS, no_color=rt.no_color,
                         key=lambda row: (row["domain"], row["endpoint"], row["id"]),
                         watched=("status", "message"))
    failed_any = False
    round_results: dict[str, Any] = {}
    current = 0

    def show_round() -> None:
        if live is not None and round_results:
            results = list(round_results.values())
            live.show(render.table_rows(results), note=render.summary_line(results))

    try:
        async for number, result, changed in watch(names, options, interval, rounds):
            if number != current:
                show_round()
                current = number
            round_results[result.domain] = result
            failed_any = failed_any or result.failed
            if out is not None:
                for check in changed:
                    record = check.to_record()
                    out.emit({"round": number, **{k: record[k] for k in render.TABLE_COLUMNS},
                              "previous": check.details.get("previous")})
                if changed:
                    out.flush()
        show_round()
    finally:
        if out is not None:
            out.close()
        if live is not None:
            live.close()
    return int(failed_any)
