"""A view redrawn in place on a terminal: one table per round, changed cells highlighted.

Used by every ``--watch`` on a terminal (readout, probe): a person wants one screen that
updates, in a stable order, with the round's time in the header and what changed marked,
not a new table scrolling past every round.  Piped output never comes here.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Hashable, Mapping, Sequence
from typing import IO, Any

from xiot.output import cell_text, terminal_safe


class LiveTable:
    """Redraws one table per round; cells whose text changed since the last round are bold."""

    def __init__(self, stream: IO[str], columns: Sequence[str],
                 key: Callable[[Mapping[str, Any]], Hashable], no_color: bool = False,
                 title: str = "", watched: Sequence[str] | None = None) -> None:
        from rich.console import Console
        from rich.live import Live

        self.columns = tuple(columns)
        #: The columns whose change is news (a value, a status); timings and timestamps
        #: change every round and are not highlighted.
        self.watched = set(watched if watched is not None else columns)
        self.key = key
        self.title = title
        self.console = Console(file=stream, no_color=no_color, highlight=False)
        self.live = Live(console=self.console, auto_refresh=False, transient=False)
        self.previous: dict[Hashable, dict[str, str]] = {}
        self.number = 0
        self.started = False

    def show(self, rows: Sequence[Mapping[str, Any]], note: str = "") -> int:
        """Draw this round's rows; returns how many cells changed since the last round."""
        from rich.table import Table
        from rich.text import Text

        self.number += 1
        current: dict[Hashable, dict[str, str]] = {}
        changed = 0
        table = Table(show_lines=False, header_style="bold")
        for name in self.columns:
            table.add_column(name.replace("_", " "), overflow="fold")
        for row in rows:
            key = self.key(row)
            texts = {c: terminal_safe(cell_text(row.get(c))) for c in self.columns}
            before = self.previous.get(key)
            cells = []
            for column in self.columns:
                new = (column in self.watched and before is not None
                       and before.get(column) != texts[column])
                changed += new
                cells.append(Text(texts[column], style="bold yellow" if new else ""))
            current[key] = texts
            table.add_row(*cells)
        first = not self.previous
        self.previous = current
        when = dt.datetime.now().strftime("%H:%M:%S")
        what = ("first round" if first else
                f"{changed} value{'s' * (changed != 1)} changed" if changed else "no change")
        table.title = f"{self.title}round {self.number} at {when}: {what}" + (
            f"; {note}" if note else "")
        if not self.started:
            self.live.start()
            self.started = True
        self.live.update(table, refresh=True)
        return changed

    def close(self) -> None:
        if self.started:
            self.live.stop()
            self.started = False
