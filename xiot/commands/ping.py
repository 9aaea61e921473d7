"""``xiot ping``: XEP-0199 round trips."""

from __future__ import annotations

import typer

from xiot.commands import common

app = common.typer_app()


@app.command(
    epilog="""\b
Examples:
  xiot --profile lab ping                    one ping to the server
  xiot --profile lab ping -c 5 -i 0.2        five pings, 0.2 s apart
  xiot --profile lab ping dev0001@xiot.test/sim -o json

A bare JID (user@domain) is answered by the server on the account's behalf; give the full
JID (user@domain/resource) to reach a connected device.
On a terminal each reply is printed as it arrives and a ping(8)-style summary ends the run
(sent, received, loss, min/avg/max/mdev); -o json gives {"replies": [...], "summary": {...}};
NDJSON and CSV carry the replies, the summary goes to stderr.
Exit status: 0 if every ping was answered, 1 if any got an error or no answer.""",
)
def ping(
    ctx: typer.Context,
    jid: str | None = typer.Argument(None, help="JID to ping [default: your server]."),
    count: int = typer.Option(1, "-c", "--count", min=1, max=100000, help="Pings to send."),
    interval: float = typer.Option(1.0, "-i", "--interval", min=0.0,
                                   help="Seconds between pings."),
) -> None:
    """Ping the server or a JID (XEP-0199) and show round-trip times in milliseconds."""
    from xiot.xmpp.jid import parse_jid

    target = str(parse_jid(jid)) if jid else None
    common.settings(ctx)
    failed = common.runtime(ctx).session_run(
        lambda session: _run(ctx, session, target, count, interval))
    if failed:
        raise typer.Exit(1)


async def _run(ctx, session, target, count, interval) -> int:  # type: ignore[no-untyped-def]
    """Ping, showing each reply as it arrives, and end with the ping(8) summary.

    On a terminal the replies are lines like ping(8)'s; as data, each reply is a record and
    ``-o json`` is ``{"replies": [...], "summary": {...}}``.  A Ctrl-C still prints the
    summary of what was sent.
    """
    from xiot.xmpp.ping import PingSummary, ping

    rt = common.runtime(ctx)
    fmt = common.output_format(ctx)
    dest = target or session.jid.domain
    results = []
    # Output starts once connected: a failed login prints its error, not an empty list.
    out = None if fmt in ("table", "json") else common.sink(
        ctx, columns=("target", "seq", "status", "rtt_ms", "error"))
    try:
        async for result in ping(session, dest, count, interval, session.settings.timeout):
            results.append(result)
            if out is not None:
                out.emit(result.to_record())
            elif fmt == "table":
                rt.env.stdout.write(_reply_line(result) + "\n")
                rt.env.stdout.flush()
    finally:
        summary = PingSummary.of(dest, results)
        if out is not None:
            out.close()
            for line in summary.lines():
                rt.env.say(line)
        elif fmt == "table":
            rt.env.stdout.write("\n".join(["", *summary.lines()]) + "\n")
            rt.env.stdout.flush()
        else:
            from xiot.output import to_json

            rt.env.stdout.write(to_json({"replies": [r.to_record() for r in results],
                                         "summary": summary.to_record()}, indent=2) + "\n")
    return summary.sent - summary.received


def _reply_line(result) -> str:  # type: ignore[no-untyped-def]
    if result.status == "ok":
        return f"pong from {result.target}: seq={result.seq} time={result.rtt_ms:.2f} ms"
    return f"no pong from {result.target}: seq={result.seq} {result.error}"
