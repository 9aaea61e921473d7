"""``xiot pubsub`` subscriptions, affiliations, approval and ``watch`` (registered on its app)."""

from __future__ import annotations

import time
from typing import IO, Any

import typer

from xiot.commands import common
from xiot.commands.pubsub import NODE, PEP, SERVICE, _exit_for, _run, _where, app

SUBSCRIBER = typer.Option(None, "--subscriber", metavar="JID", show_default=False,
                          help="Subscribe this JID [default: your bare JID].")


@app.command("subscribe", epilog="""\b
Examples:
  xiot pubsub subscribe sensors/kitchen
  xiot pubsub subscribe sensors/kitchen --option deliver=false
  xiot pubsub subscribe urn:xmpp:iot:status --service dev0001@xiot.test   a PEP node

\b
The state is 'subscribed', or 'pending' when the owner must approve it
('xiot pubsub approve' on the owner's side).""")
def subscribe(
    ctx: typer.Context, node: str = NODE, subscriber: str | None = SUBSCRIBER,
    option: list[str] | None = typer.Option(None, "--option", metavar="FIELD=VALUE",
                                            show_default=False,
                                            help="Subscription option, repeatable "
                                            "('pubsub#' may be left out)."),
    service: str | None = SERVICE, pep: bool = PEP,
) -> None:
    """Subscribe to a node (with options; pending approval is reported as such)."""
    from xiot.pubsub import subscriptions as subs
    from xiot.pubsub.config import parse_assignments
    from xiot.pubsub.core import check_jid

    _where(ctx, service, pep)
    jid = check_jid(subscriber) if subscriber else None
    options = parse_assignments(option or [], "--option")
    found = _run(ctx, lambda s, w: subs.subscribe(s, w, node, jid, options))
    if found.subscription == "pending":
        common.say(ctx, f"subscription to '{node}' awaits the owner's approval")
    common.emit_one(ctx, found.to_record())


@app.command("unsubscribe", epilog="""\b
Examples:
  xiot pubsub unsubscribe sensors/kitchen
  xiot pubsub unsubscribe sensors/kitchen --subid 5A3F""")
def unsubscribe(
    ctx: typer.Context, node: str = NODE, subscriber: str | None = SUBSCRIBER,
    subid: str | None = typer.Option(None, "--subid", show_default=False,
                                     help="Which subscription, where there are several."),
    service: str | None = SERVICE, pep: bool = PEP,
) -> None:
    """Cancel a subscription to a node."""
    from xiot.pubsub import subscriptions as subs
    from xiot.pubsub.core import check_jid

    _where(ctx, service, pep)
    jid = check_jid(subscriber) if subscriber else None
    common.emit_one(ctx, _run(ctx, lambda s, w: subs.unsubscribe(s, w, node, jid, subid))
                    .to_record())


@app.command("subscriptions", epilog="""\b
Examples:
  xiot pubsub subscriptions                         your subscriptions on the service
  xiot pubsub subscriptions sensors/kitchen --owner  everyone subscribed to the node
  xiot pubsub subscriptions sensors/kitchen --set dev0001@xiot.test=none

\b
--set (as the node's owner) takes JID=subscribed|pending|unconfigured|none and is
repeatable; exit 1 if some could not be set.""")
def subscriptions(
    ctx: typer.Context,
    node: str | None = typer.Argument(None, metavar="[NODE]", help="Only this node."),
    owner: bool = typer.Option(False, "--owner", help="Every subscription to NODE (as its "
                               "owner)."),
    sets: list[str] | None = typer.Option(None, "--set", metavar="JID=STATE",
                                          show_default=False,
                                          help="Set a subscription as owner; repeatable."),
    service: str | None = SERVICE, pep: bool = PEP,
) -> None:
    """List subscriptions: yours, or (--owner) a node's; --set changes them as owner."""
    from xiot.pubsub import subscriptions as subs
    from xiot.pubsub.model import SUBSCRIPTION_COLUMNS

    _where(ctx, service, pep)
    _list_or_set(ctx, node, sets, subs.STATES, subs.set_subscriptions,
                 lambda s, w: subs.subscriptions(s, w, node, owner), SUBSCRIPTION_COLUMNS)


@app.command("affiliations", epilog="""\b
Examples:
  xiot pubsub affiliations                          your affiliations on the service
  xiot pubsub affiliations sensors/kitchen --owner  everyone's affiliation with the node
  xiot pubsub affiliations sensors/kitchen --set dev0001@xiot.test=publisher

\b
--set (as the node's owner) takes JID=owner|publisher|publish-only|member|none|outcast
and is repeatable; an affiliation the service does not offer is refused before
anything is sent; exit 1 if some could not be set.""")
def affiliations(
    ctx: typer.Context,
    node: str | None = typer.Argument(None, metavar="[NODE]", help="Only this node."),
    owner: bool = typer.Option(False, "--owner", help="Every affiliation with NODE (as its "
                               "owner)."),
    sets: list[str] | None = typer.Option(None, "--set", metavar="JID=AFFILIATION",
                                          show_default=False,
                                          help="Set an affiliation as owner; repeatable."),
    service: str | None = SERVICE, pep: bool = PEP,
) -> None:
    """List affiliations: yours, or (--owner) a node's; --set changes them as owner."""
    from xiot.pubsub import subscriptions as subs
    from xiot.pubsub.model import AFFILIATION_COLUMNS

    _where(ctx, service, pep)
    _list_or_set(ctx, node, sets, subs.AFFILIATIONS, subs.set_affiliations,
                 lambda s, w: subs.affiliations(s, w, node, owner), AFFILIATION_COLUMNS)


def _list_or_set(ctx: typer.Context, node: str | None, sets: list[str] | None,
                 choices: Any, setter: Any, lister: Any, columns: Any) -> None:
    """``--set JID=VALUE...`` as the node's owner (exit 1 if some were not set), or the
    list; subscriptions and affiliations are read and changed the same way."""
    from xiot.pubsub import subscriptions as subs
    from xiot.pubsub.model import OUTCOME_COLUMNS

    if not sets:
        found = _run(ctx, lister)
        common.emit_all(ctx, [x.to_record() for x in found], columns=columns)
        return
    wanted = subs.parse_pairs(sets, choices, "--set")
    done = _run(ctx, lambda s, w: setter(s, w, _need(node), wanted))
    common.emit_all(ctx, [o.to_record() for o in done], columns=OUTCOME_COLUMNS)
    _exit_for(done)


def _need(node: str | None) -> str:
    if not node:
        from xiot.errors import UsageError

        raise UsageError("--set needs a NODE", "Give the node whose entries to change")
    return node


@app.command("approve", epilog="""\b
Examples:
  xiot pubsub approve sensors/kitchen                  every pending subscriber
  xiot pubsub approve sensors/kitchen bob@xiot.test
  xiot pubsub approve sensors/kitchen eve@xiot.test --deny

\b
For nodes with the authorize access model; needs the service's
manage-subscriptions feature.  Exit 1 if a JID had nothing pending.""")
def approve(
    ctx: typer.Context, node: str = NODE,
    jids: list[str] | None = typer.Argument(None, metavar="[JID...]",
                                            help="Subscribers [default: all pending]."),
    deny: bool = typer.Option(False, "--deny", help="Refuse instead of approving."),
    service: str | None = SERVICE, pep: bool = PEP,
) -> None:
    """Approve (or deny) pending subscriptions to a node you own."""
    from xiot.pubsub import subscriptions as subs
    from xiot.pubsub.core import check_jid
    from xiot.pubsub.model import OUTCOME_COLUMNS

    _where(ctx, service, pep)
    wanted = [check_jid(j) for j in jids or []]
    # get-pending answers with messages to the owner's available resources: send presence.
    done = _run(ctx, lambda s, w: subs.approve(s, w, node, wanted, deny), send_presence=True)
    if not done:
        common.say(ctx, f"no subscription to '{node}' is pending")
    common.emit_all(ctx, [o.to_record() for o in done], columns=OUTCOME_COLUMNS)
    _exit_for(done)


# -------------------------------------------------------------------------------- watch


@app.command("watch", epilog="""\b
Examples:
  xiot pubsub watch sensors/kitchen sensors/hall          NDJSON when piped
  xiot pubsub watch sensors/kitchen --count 10 -o json
  xiot pubsub watch status --pep --duration 60

\b
Shows item, retract, purge, delete, config and subscription events as they arrive:
one NDJSON line each when piped, a live view per node on a terminal.  The watch
subscribes this session (its full JID) to each node and unsubscribes when it ends;
--no-subscribe instead shows what your account's own subscriptions deliver.
Stops at --count events or after --duration seconds, whichever comes first, or on
Ctrl-C (exit 130); with --count, reaching --duration first exits 6.""")
def watch(
    ctx: typer.Context,
    nodes: list[str] = typer.Argument(..., metavar="NODE...", help="Nodes to watch."),
    count: int | None = typer.Option(None, "--count", min=1, metavar="N", show_default=False,
                                     help="Stop after N events."),
    duration: float | None = typer.Option(None, "--duration", min=0.1, metavar="SECONDS",
                                          show_default=False, help="Stop after SECONDS."),
    no_subscribe: bool = typer.Option(False, "--no-subscribe",
                                      help="Do not subscribe; show what the account's own "
                                      "subscriptions deliver (sends presence)."),
    service: str | None = SERVICE, pep: bool = PEP,
) -> None:
    """Stream a node's events live: NDJSON when piped, a live view on a terminal."""
    from xiot.pubsub.model import EVENT_COLUMNS

    _where(ctx, service, pep)
    rt = common.runtime(ctx)
    fmt = common.output_format(ctx)
    view = WatchView(rt.env.stdout, rt.no_color) if fmt == "table" and \
        rt.env.stdout_isatty else None
    out = None if view else common.sink(ctx, columns=EVENT_COLUMNS)
    seen = {"n": 0}

    async def op(session: Any, where: Any) -> bool:
        import asyncio

        from xiot.pubsub.events import Watch

        async with Watch(session, where, nodes, not no_subscribe) as w:
            if w.made and rt.env.stderr_isatty:
                common.say(ctx, f"subscribed to {', '.join(w.made)} for this watch")

            async def consume() -> None:
                async for event in w.events():
                    if view is not None:
                        view.add(event.to_record())
                    else:
                        out.emit(event.to_record())  # type: ignore[union-attr]
                    seen["n"] += 1
                    if count is not None and seen["n"] >= count:
                        return

            try:
                await asyncio.wait_for(consume(), duration)
            except TimeoutError:
                return True
        return False

    try:
        # Without subscribing, events come to the account's bare JID: they reach this session
        # only once it has sent presence.
        timed_out = _run(ctx, op, send_presence=no_subscribe)
    finally:
        if view is not None:
            view.close()
        if out is not None:
            out.close()
    if timed_out and count is not None:
        from xiot.errors import Timeout

        raise Timeout(f"{seen['n']} of {count} events within {duration:g}s",
                      "Raise --duration, or check that something publishes to the node")


class WatchView:
    """A live table on a terminal: one row per node with its latest event, redrawn in place."""

    COLUMNS = ("node", "events", "items", "last", "id", "payload", "at")

    def __init__(self, stream: IO[str], no_color: bool) -> None:
        from rich.console import Console
        from rich.live import Live

        self.console = Console(file=stream, no_color=no_color, highlight=False)
        self.rows: dict[str, dict[str, Any]] = {}
        self.total = 0
        self.started = time.monotonic()
        self.live = Live(console=self.console, auto_refresh=False, transient=False)
        self.live.start()
        self.drawn = 0.0
        self._draw()

    def add(self, record: dict[str, Any]) -> None:
        row = self.rows.setdefault(record["node"], {"node": record["node"], "events": 0,
                                                    "items": 0})
        row["events"] += 1
        row["items"] += record["event"] == "item"
        row.update(last=record["event"], id=record["id"],
                   payload=_short(record["payload"] or record["redirect"] or ""),
                   at=record["time"].strftime("%H:%M:%S"))
        self.total += 1
        if time.monotonic() - self.drawn >= 0.1:
            self._draw()

    def _draw(self) -> None:
        from rich.table import Table

        from xiot.output import terminal_safe

        table = Table(header_style="bold", title=f"xiot pubsub watch: {self.total} events in "
                      f"{time.monotonic() - self.started:.0f}s (Ctrl-C to stop)")
        for name in self.COLUMNS:
            table.add_column(name, overflow="fold")
        for node in sorted(self.rows):
            row = self.rows[node]
            table.add_row(*(terminal_safe(str(row.get(c, "") or "")) for c in self.COLUMNS))
        self.live.update(table, refresh=True)
        self.drawn = time.monotonic()

    def close(self) -> None:
        self._draw()
        self.live.stop()


def _short(text: str, width: int = 60) -> str:
    return text if len(text) <= width else text[:width - 1] + "…"


# -------------------------------------------------------------------------------- apply


@app.command("apply", epilog="""\b
Examples:
  xiot pubsub apply nodes.yaml --dry-run     the changes it would make
  xiot pubsub apply nodes.yaml               make them (a second run changes nothing)
  cat nodes.json | xiot pubsub apply -

\b
The file (YAML or JSON):
  service: pubsub.example.org          # optional
  nodes:
    sensors:
      type: collection                 # leaf (default) or collection
      config: {title: Sensors, access: open}
      children:                        # members of this collection
        sensors/kitchen:
          config: {max_items: 50, persist: true, pubsub#type: "urn:example:t"}
          affiliations: {dev0001@example.org: publisher}

\b
Everything is checked first: the file's shape, then every value against the
server's own forms.  Then the changes are sent in order; if the server refuses
one, those already made are undone and each step is reported as done, failed,
undone or skipped (exit 7).  Nodes not in the file are left alone; --prune
removes affiliations the file does not list on the nodes it describes.""")
def apply(
    ctx: typer.Context,
    source: str = typer.Argument(..., metavar="FILE|-", help="Description ('-': stdin)."),
    dry_run: bool = typer.Option(False, "--dry-run", help="Only show the changes."),
    prune: bool = typer.Option(False, "--prune", help="Also remove unlisted affiliations."),
    service: str | None = SERVICE, pep: bool = PEP,
) -> None:
    """Make nodes, their configuration and affiliations match a YAML/JSON description."""
    from pathlib import Path

    from xiot.errors import UsageError
    from xiot.pubsub import apply as applying
    from xiot.pubsub.model import STEP_COLUMNS

    if source == "-":
        text, name = common.runtime(ctx).env.stdin.read(), "stdin"
    else:
        try:
            text, name = Path(source).read_text(encoding="utf-8"), source
        except (OSError, UnicodeDecodeError) as exc:
            raise UsageError(f"cannot read {source}: {exc}") from None
    spec = applying.read_spec(text, name)
    _where(ctx, service or spec.service, pep)

    async def op(session: Any, where: Any) -> Any:
        planned = await applying.plan(session, where, spec, prune)
        if dry_run or not planned:
            return applying.Report(tuple(p.step for p in planned))
        return await applying.execute(session, planned)

    report = _run(ctx, op)
    if not report.steps:
        common.say(ctx, "nothing to change: the server already matches the description")
    common.emit_all(ctx, [s.to_record() for s in report.steps], columns=STEP_COLUMNS)
    if report.error is not None:
        from xiot.errors import RemoteError

        undone = sum(s.status == "undone" for s in report.steps)
        failed = next(s for s in report.steps if s.status == "failed")
        raise RemoteError(f"apply stopped at step {failed.step} ({failed.action} "
                          f"'{failed.node}'): {report.error.message}",
                          f"{undone} earlier step(s) undone; the output lists every step",
                          condition=getattr(report.error, "condition", None))
