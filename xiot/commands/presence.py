"""``xiot presence``: who in the fleet is online, now (snapshot) and as it changes (watch)."""

from __future__ import annotations

import typer

from xiot.commands import common

app = common.typer_app(
    help="Fleet presence: a settled snapshot, a live watch, and your own presence.",
    no_args_is_help=True,
    epilog="""\b
Examples:
  xiot presence snapshot                           every contact, once the view settled
  xiot presence snapshot --expect-online fleet.txt  exit 1 naming devices that are offline
  xiot presence watch                              live view on a terminal, NDJSON piped
  xiot presence set away --status maintenance --hold 600""",
)

SHARD_HELP = ("Only share K of N of the fleet (a stable hash of each bare JID), e.g. 2/4: "
              "run one watcher per share and merge their NDJSON streams.")


@app.callback()
def presence() -> None:
    """Fleet presence: a settled snapshot, a live watch, and your own presence."""


def _selection(group, match, shard):  # type: ignore[no-untyped-def]
    from xiot.presence.model import Shard
    from xiot.presence.snapshot import Selection

    return Selection(group=group, match=match, shard=Shard.parse(shard) if shard else None)


def _group() -> typer.models.OptionInfo:
    return typer.Option(None, "--group", metavar="GROUP", help="Only contacts in this roster "
                        "group.", show_default=False)


def _match() -> typer.models.OptionInfo:
    return typer.Option(None, "--match", metavar="GLOB", help="Only bare JIDs matching this "
                        "shell pattern (e.g. 'pump-*@plant.example').", show_default=False)


def _shard() -> typer.models.OptionInfo:
    return typer.Option(None, "--shard", metavar="K/N", help=SHARD_HELP, show_default=False)


def _quiet() -> typer.models.OptionInfo:
    return typer.Option(3.0, "--quiet", min=0.1, metavar="SECONDS",
                        help="Fallback settle: this long without any presence.")


SNAPSHOT_TABLE = ("jid", "state", "status", "resources", "since", "last_seen", "groups",
                  "source")


@app.command("snapshot", epilog="""\b
Examples:
  xiot presence snapshot                          all roster contacts
  xiot presence snapshot --group devices --match 'dev00*' -o csv
  xiot lab accounts --role device | xiot presence snapshot --expect-online -
  xiot presence snapshot --source server          the server's sessions (admin, XEP-0133)
  xiot presence snapshot --shard 1/4 -o ndjson    a quarter of the fleet

\b
How the view settles: on our initial presence the server probes every contact we are
subscribed to and answers for each at least once (its online resources, or 'unavailable').
The snapshot is printed when every such roster contact has answered.  A quiet period
(--quiet, no presence at all for that long) ends the wait early only when some contacts
never get an answer (e.g. a remote server that is down); --timeout bounds the whole wait.
\b
States: chat, available, away, xa, dnd, unavailable; 'unknown' when no answer came (not
subscribed, or not settled).  'since' is when the state was set (the server's delay stamp)
or, for offline contacts, the XEP-0012 last activity where the server answers it.  The
roster is cached with its XEP-0237 version, so a large roster is not fetched again while
it is unchanged; the summary on stderr says whether it came from the cache.
Each row's 'source' says where it came from: presence (stanzas to us), roster (a contact
that never answered), or server (XEP-0133 get-online-users, with --source server|both).
Exit status: 0; 1 if a contact named by --expect-online is not online (named on stderr);
6 if the view did not settle within --timeout (the rows are still printed).""")
def snapshot(
    ctx: typer.Context,
    group: str | None = _group(),
    match: str | None = _match(),
    shard: str | None = _shard(),
    expect_online: str | None = typer.Option(
        None, "--expect-online", metavar="FILE", show_default=False,
        help="JIDs that must be online (one per line, a CSV with a jid column, or NDJSON; "
        "'-': stdin); exit 1 naming those that are not."),
    source: str = typer.Option("roster", "--source", metavar="SOURCE",
                               help="roster (presence of roster contacts), server (the "
                               "server's online sessions, admin only) or both."),
    last: bool = typer.Option(True, "--last/--no-last", help="Ask offline contacts' last "
                              "activity (XEP-0012) where the server answers it."),
    quiet: float = _quiet(),
) -> None:
    """Every contact's presence, printed once the view has settled."""
    from xiot.presence.snapshot import SnapshotOptions

    opts = SnapshotOptions(_selection(group, match, shard), source, last, quiet)
    expected = _expected(expect_online) if expect_online is not None else None
    rt = common.runtime(ctx)
    settings = common.settings(ctx)
    from xiot.presence.snapshot import take_snapshot


    async def take_and_print(session):  # type: ignore[no-untyped-def]
        # printed before the session closes: the rows are ready, the goodbye can wait
        found = await take_snapshot(session, opts, settings.timeout)
        _print_snapshot(ctx, found)
        return found

    result = rt.session_run(take_and_print)
    _verdict(ctx, result, expected, settings.timeout)


def _expected(source: str) -> list[str]:
    from xiot.commands.targets import collect_jids

    return list(dict.fromkeys(jid.bare for jid in collect_jids([], source)))


def _print_snapshot(ctx: typer.Context, result) -> None:  # type: ignore[no-untyped-def]
    from xiot.output import STATUS_STYLES
    from xiot.presence.model import SNAPSHOT_COLUMNS

    table = common.output_format(ctx) == "table"
    styles = {"state": {"unavailable": STATUS_STYLES.get("fail", "red"),
                        "unknown": "dim", "available": "green", "chat": "green",
                        "away": "yellow", "xa": "yellow", "dnd": "magenta"}}
    common.emit_all(ctx, (c.to_record() for c in result.contacts),
                    columns=SNAPSHOT_TABLE if table else SNAPSHOT_COLUMNS, styles=styles)
    common.say(ctx, result.summary())


def _verdict(ctx: typer.Context, result, expected, timeout: float) -> None:  # type: ignore[no-untyped-def]
    from xiot.errors import CheckFailed, Timeout
    from xiot.presence.snapshot import offline_expected

    if expected is not None:
        missing = offline_expected(result, expected)
        if missing:
            shown = ", ".join(missing[:20]) + (" ..." if len(missing) > 20 else "")
            raise CheckFailed(f"{len(missing)} of {len(expected)} expected contacts not "
                              f"online: {shown}")
    if result.settle is not None and not result.settle.settled:
        never = result.settle.expected - result.settle.answered
        raise Timeout(f"the view did not settle within {timeout:g}s: {never} contacts never "
                      "answered (shown as unknown)", "Raise --timeout for a large fleet")


@app.command("set", epilog="""\b
Examples:
  xiot presence set away --status maintenance           until Ctrl-C
  xiot presence set dnd --status "firmware update" --hold 900
  xiot presence set available --priority 5 --hold 60

\b
Presence belongs to a connection: subscribers see it while this command keeps its session
open, and the server tells them 'unavailable' when it ends.  So the command holds the
connection for --hold SECONDS, or until Ctrl-C (or SIGTERM) when --hold is not given, and
prints one record (jid, state, status, priority, time).  In the xiot shell the presence
stays set for the shell's session and the command returns at once.""")
def set_(
    ctx: typer.Context,
    state: str = typer.Argument(..., metavar="STATE",
                                help="available, chat, away, xa or dnd."),
    status: str | None = typer.Option(None, "--status", metavar="TEXT",
                                      help="Status text shown to subscribers."),
    priority: int = typer.Option(0, "--priority", metavar="N", help="-128..127."),
    hold: float | None = typer.Option(None, "--hold", min=0.0, metavar="SECONDS",
                                      show_default=False,
                                      help="Keep the presence this long, then exit "
                                      "[default: until Ctrl-C]."),
) -> None:
    """Set your own presence (it lasts while the connection does)."""
    from xiot.presence.own import check

    check(state, priority)
    rt = common.runtime(ctx)
    common.settings(ctx)
    rt.session_run(lambda session: _hold(ctx, session, state, status, priority, hold))


async def _hold(ctx, session, state, status, priority, hold) -> None:  # type: ignore[no-untyped-def]
    import asyncio
    import contextlib
    import signal

    from xiot.presence.own import set_presence

    rt = common.runtime(ctx)
    own = set_presence(session, state, status, priority)
    common.emit_one(ctx, own.to_record())
    if rt.lent_session is session:
        return
    what = f"for {hold:g}s" if hold is not None else "until Ctrl-C"
    common.say(ctx, f"presence {state} set for {own.jid}; holding the connection {what}")
    stop = asyncio.Event()
    with contextlib.suppress(NotImplementedError, RuntimeError):
        asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, stop.set)
    with contextlib.suppress(TimeoutError):
        await session.guard(asyncio.wait_for(stop.wait(), hold))


@app.command("watch", epilog="""\b
Examples:
  xiot presence watch                           live view on a terminal
  xiot presence watch -o ndjson | jq 'select(.event=="change")'
  xiot presence watch --count 10 --until-idle 30
  xiot presence watch --shard 1/2 > a.ndjson &  xiot presence watch --shard 2/2 > b.ndjson
  jq -c -s 'sort_by(.mono)[]' a.ndjson b.ndjson      the two shards merged in time order

\b
On a terminal the view is redrawn in place: counts per state at the top, then the most
recent changes first; contacts that changed state 4 times within a minute are marked
FLAPPING.  Piped, one NDJSON record per event with stable keys: seq, shard, mono (the
system-wide monotonic clock, comparable between processes on one machine), time (UTC),
event, jid, resource, state, previous, status, priority, flapping.  Events: initial (each
contact once the view settled; --changes-only leaves them out), change, while-away (found
different after a reconnect), lost and resynced (the watcher's own connection).
When the server drops the connection the watch says so, reconnects with growing, jittered
waits, logs in again (a restarted server keeps no presence), re-syncs and reports what
changed meanwhile.  Ctrl-C prints a summary.
Exit status: 0 when --count or --until-idle ended it; 130 on Ctrl-C.""")
def watch(
    ctx: typer.Context,
    count: int | None = typer.Option(None, "--count", min=1, metavar="N",
                                     show_default=False, help="Stop after N changes."),
    until_idle: float | None = typer.Option(None, "--until-idle", min=0.1, metavar="SECONDS",
                                            show_default=False,
                                            help="Stop after this long without a change."),
    shard: str | None = _shard(),
    group: str | None = _group(),
    match: str | None = _match(),
    changes_only: bool = typer.Option(False, "--changes-only",
                                      help="No 'initial' records: only what changes."),
    quiet: float = _quiet(),
) -> None:
    """Follow presence changes: a live view on a terminal, NDJSON when piped."""
    from xiot.commands.presence_live import run_watch
    from xiot.presence.watch import WatchOptions

    opts = WatchOptions(_selection(group, match, shard), count, until_idle, not changes_only,
                        quiet)
    common.settings(ctx)
    run_watch(ctx, opts)
