"""How ``xiot presence watch`` shows events: a view redrawn in place on a terminal, a stream
of records otherwise, and a summary at the end (also on Ctrl-C).

The content of the view (counts, recent changes, flapping) is ``xiot.presence.view.FleetView``;
this module only draws it with rich, at most a few times a second, so a burst of ten thousand
presences costs one redraw, not ten thousand.
"""

from __future__ import annotations

import asyncio
import contextlib
from typing import Any

import typer

from xiot.commands import common

REDRAW_SECONDS = 0.25
STATE_STYLES = {"available": "green", "chat": "green", "away": "yellow", "xa": "yellow",
                "dnd": "magenta", "unavailable": "red", "unknown": "dim"}


def run_watch(ctx: typer.Context, options: Any) -> None:
    """Run the watch with reconnection (``Runtime.watch``) and show what it reports."""
    from xiot.presence.view import FleetView
    from xiot.presence.watch import Watcher

    rt = common.runtime(ctx)
    fmt = common.output_format(ctx)
    view = FleetView()
    live = _Live(rt.env.stdout, rt.no_color) if fmt == "table" else None
    out = None if fmt in ("table", "json") else common.sink(ctx, columns=_columns())
    collected: list[dict[str, Any]] = []

    def on_event(change: Any) -> None:
        view.apply(change)
        if out is not None:
            out.emit(change.to_record())
        elif fmt == "json":
            collected.append(change.to_record())
        elif live is not None:
            live.dirty = True

    def on_sync(contacts: Any) -> None:
        view.seed(contacts)
        if live is not None:
            live.dirty = True

    watcher = Watcher(options, on_event, on_sync)
    timeout = rt.settings.timeout

    async def main() -> None:
        redraw = asyncio.ensure_future(live.loop(view)) if live is not None else None
        try:
            await rt.watch(lambda session, number: watcher.run(session, number, timeout),
                           interval=0.0, rounds=1)
        finally:
            if redraw is not None:
                redraw.cancel()
                with contextlib.suppress(BaseException):
                    await redraw

    try:
        rt.run(main)
    finally:
        if live is not None:
            live.close(view)
        if out is not None:
            out.close()
        if fmt == "json":
            from xiot.output import to_json

            rt.env.stdout.write(to_json({"events": collected,
                                         "summary": view.summary().to_record()}, indent=2)
                                + "\n")
            rt.env.stdout.flush()
        for line in view.summary().lines():
            rt.env.say(line)


def _columns() -> tuple[str, ...]:
    from xiot.presence.model import CHANGE_COLUMNS

    return CHANGE_COLUMNS


class _Live:
    """The redrawn view: a header with counts, then recent changes, newest first."""

    def __init__(self, stream: Any, no_color: bool) -> None:
        from rich.console import Console
        from rich.live import Live

        self.console = Console(file=stream, no_color=no_color, highlight=False)
        self.live = Live(console=self.console, auto_refresh=False, transient=False,
                         redirect_stdout=False, redirect_stderr=False)
        self.dirty = True
        self.started = False

    async def loop(self, view: Any) -> None:
        while True:
            if self.dirty:
                self.dirty = False
                self.draw(view)
            await asyncio.sleep(REDRAW_SECONDS)

    def draw(self, view: Any) -> None:
        if not self.started:
            self.live.start()
            self.started = True
        self.live.update(render(view, self.console.size.height), refresh=True)

    def close(self, view: Any) -> None:
        if self.started:
            self.live.update(render(view, self.console.size.height), refresh=True)
            self.live.stop()


def render(view: Any, height: int) -> Any:
    """The view as rich renderables: a counts header, then a table of recent changes."""
    import datetime as dt

    from rich.console import Group
    from rich.table import Table
    from rich.text import Text

    from xiot.output import terminal_safe

    header = Text()
    header.append("presence watch ", style="bold")
    header.append(dt.datetime.now().strftime("%H:%M:%S"))
    total = sum(view.counts.values())
    header.append(f"   online {view.online()}/{total}:  ")
    for state, n in view.state_counts().items():
        header.append(f"{state} {n}  ", style=STATE_STYLES.get(state, ""))
    header.append(f"  {view.changes} changes")
    if view.flapping:
        header.append(f"   {len(view.flapping)} flapping", style="bold red")
    if view.note:
        header.append(f"   [{view.note}]", style="bold yellow")
    table = Table(show_lines=False, header_style="bold", expand=False)
    for name in ("time", "jid", "change", "status", ""):
        table.add_column(name)
    for change in list(view.recent)[:max(1, height - 6)]:
        local = change.time.astimezone().strftime("%H:%M:%S")
        what = Text(f"{change.previous or '?'} → {change.state}",
                    style=STATE_STYLES.get(change.state or "", ""))
        flag = Text("FLAPPING", style="bold red") if view.is_flapping(change.jid) else Text("")
        if change.event == "while-away":
            flag.append(" (while away)", style="yellow")
        table.add_row(local, terminal_safe(change.jid or ""), what,
                      terminal_safe(change.status or ""), flag)
    if not view.settled:
        return Group(header, Text("connecting and waiting for the view to settle...",
                                  style="dim"))
    if not view.recent:
        return Group(header, Text("waiting for changes...", style="dim"))
    return Group(header, table)
