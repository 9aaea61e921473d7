"""``xiot probe``: DNS, TLS, stream and HTTP checks of XMPP domains, before anyone logs in."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import typer

from xiot.commands import common

app = common.typer_app()

MONITORING = ("nagios", "openmetrics")


@app.command(
    epilog="""\b
Examples:
  xiot probe example.org                         everything, as a table on a terminal
  xiot probe example.org example.net -o ndjson   many domains in parallel, one line per check
  xiot probe -f domains.txt --only dns,tls       just DNS and TLS for a list (- for stdin)
  xiot probe example.org --skip web -o nagios    a Nagios/Icinga check with perfdata
  xiot probe example.org -o openmetrics > /var/lib/node_exporter/xmpp.prom
  xiot probe example.org --watch 60              re-probe every minute, print what changed
  xiot --profile ops probe example.org --login   also log in, bind and ping

\b
Check groups (for --only/--skip; ids like tls.expiry work too):
  dns tcp tls stream sasl s2s web login
Selecting checks that cannot run (--only login without --login,
--only s2s with --kind client) is a usage error.

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
    file: Path | None = typer.Option(None, "-f", "--file", dir_okay=False, allow_dash=True,
                                     help="Read domains from FILE, one per line ('-': stdin)."),
    resolver: str | None = typer.Option(None, "--resolver", metavar="IP[:PORT]",
                                        help="Ask this DNS server for every look-up."),
    only: list[str] = typer.Option([], "--only", metavar="GROUPS",
                                   help="Only these check groups or ids (comma-separated)."),
    skip: list[str] = typer.Option([], "--skip", metavar="GROUPS",
                                   help="Leave out these check groups or ids."),
    kind: str = typer.Option("both", "--kind", help="client, server or both."),
    warn_days: float = typer.Option(30.0, "--warn-days", min=0,
                                    help="Warn when a certificate expires within DAYS."),
    crit_days: float = typer.Option(7.0, "--crit-days", min=0,
                                    help="Fail when a certificate expires within DAYS."),
    login: bool = typer.Option(False, "--login", help="Also log in with the profile's "
                               "account: auth time, bind, XEP-0199 ping."),
    web_base: str | None = typer.Option(None, "--web-base", metavar="URL",
                                        help="Fetch host-meta from URL instead of "
                                        "https://DOMAIN (the Host header stays the domain)."),
    s2s_from: str | None = typer.Option(None, "--from", metavar="DOMAIN",
                                        help="'from' of our s2s stream headers."),
    concurrency: int = typer.Option(100, "--concurrency", min=1, max=1024,
                                    help="Domains probed at the same time."),
    watch: float = typer.Option(0.0, "--watch", min=0, metavar="SECONDS",
                                help="Probe again every SECONDS and print what changed."),
    rounds: int = typer.Option(0, "--rounds", min=0,
                               help="With --watch: stop after N rounds (0: until Ctrl-C)."),
) -> None:
    """Check XMPP domains: SRV records, every endpoint's TLS and certificate, stream features,
    SASL, s2s, host-meta/BOSH/WebSocket, and optionally a login."""
    from xiot.errors import UsageError, XiotError
    from xiot.output import ALL_FORMATS

    rt = common.runtime(ctx)
    fmt = rt.output_format(ALL_FORMATS)
    try:
        names = _domains(domains or [], file)
        options = _options(ctx, names, resolver, only, skip, kind, warn_days, crit_days,
                           login, web_base, s2s_from, concurrency)
        if fmt in MONITORING and watch:
            raise UsageError(f"--watch cannot be combined with -o {fmt}",
                             "Let the monitoring system schedule the probe")
        if watch:
            failed = rt.run(lambda: _watch(ctx, names, options, watch, rounds))
        else:
            failed = rt.run(lambda: _once(ctx, fmt, names, options))
    except XiotError as exc:
        if fmt != "nagios":
            raise
        from xiot.probes.render import nagios_unknown

        sys.stdout.write(nagios_unknown(exc.one_line()) + "\n")
        sys.stderr.write(f"xiot: {exc.one_line()}\n")
        raise typer.Exit(3) from None
    raise typer.Exit(failed)


def _domains(given: list[str], file: Path | None) -> list[str]:
    from xiot.errors import UsageError

    names = list(given)
    if file is not None:
        try:
            text = sys.stdin.read() if str(file) == "-" else file.read_text()
        except (OSError, UnicodeDecodeError) as exc:
            raise UsageError(f"cannot read {file}: {exc}") from None
        names += [line.split("#", 1)[0].strip() for line in text.splitlines()]
        names = [name for name in names if name]
    if not names:
        raise UsageError("no domain to probe", "Give one or more domains, or --file FILE")
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
        out = common.sink(ctx, columns=render.TABLE_COLUMNS, styles={"status": STATUS_STYLES})
        for row in render.table_rows(results):
            out.emit(row)
        out.close()
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
    from xiot.output import STATUS_STYLES
    from xiot.probes import render
    from xiot.probes.runner import watch

    failed: dict[str, bool] = {}
    current = 0
    out = None
    columns = ("round", *render.TABLE_COLUMNS, "previous")
    try:
        async for number, result, changed in watch(names, options, interval, rounds):
            if number != current and out is not None:
                out.close()
                out = None
            current = number
            out = out or common.sink(ctx, columns=columns, styles={"status": STATUS_STYLES},
                                     title=f"round {number}")
            failed[result.domain] = result.failed
            for check in changed:
                record = check.to_record()
                out.emit({"round": number, **{k: record[k] for k in render.TABLE_COLUMNS},
                          "previous": check.details.get("previous")})
    finally:
        if out is not None:
            out.close()
    return int(any(failed.values()))
