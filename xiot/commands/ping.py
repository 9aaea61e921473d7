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
    from xiot.xmpp.ping import ping

    failed = 0
    # Output starts once connected: a failed login prints its error, not an empty list.
    out = common.sink(ctx, columns=("target", "seq", "status", "rtt_ms", "error"),
                      styles={"status": {"ok": "green", "error": "red", "timeout": "red"}})
    try:
        dest = target or session.jid.domain
        async for result in ping(session, dest, count, interval, session.settings.timeout):
            failed += result.status != "ok"
            out.emit(result.to_record())
    finally:
        out.close()
    return failed
