"""A progress bar on stderr for long fan-outs, shown only when a person is watching."""

from __future__ import annotations

import sys
from types import TracebackType
from typing import Any


class FanOutProgress:
    """done / failed / pending for N targets; a no-op unless stderr is a terminal."""

    def __init__(self, total: int, label: str, enabled: bool | None = None) -> None:
        self.total = total
        self.failed = 0
        self.done = 0
        self.enabled = (sys.stderr.isatty() if enabled is None else enabled) and total > 1
        self._progress: Any = None
        self._task: Any = None
        self.label = label

    def __enter__(self) -> FanOutProgress:
        if self.enabled:
            from rich.console import Console
            from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn

            self._progress = Progress(
                TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                TextColumn("{task.fields[failed]} failed"),
                console=Console(file=sys.stderr), transient=True,
            )
            self._progress.start()
            self._task = self._progress.add_task(self.label, total=self.total, failed=0)
        return self

    def advance(self, ok: bool) -> None:
        self.done += 1
        self.failed += not ok
        if self._progress is not None:
            self._progress.update(self._task, advance=1, failed=self.failed)

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        if self._progress is not None:
            self._progress.stop()
