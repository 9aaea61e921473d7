"""Renderers: records in, table / JSON / NDJSON / CSV out.

stdout carries data only.  On a terminal the default is a table; when stdout is a pipe or a
file the default is NDJSON, one object per line with stable keys, so ``xiot ... | jq`` works
without flags.  Records are plain mappings: renderers know nothing about XMPP.

Streaming formats (NDJSON, CSV) write and flush each record as it arrives, so a long fan-out
shows results at once and a Ctrl-C leaves every printed line valid.  JSON and tables need the
whole set and are written on ``close()``.
"""

from __future__ import annotations

import csv
import datetime as dt
import enum
import json
import math
import os
import sys
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import IO, Any, Protocol

#: Formats that list records; every command renders these.
RECORD_FORMATS: tuple[str, ...] = ("table", "json", "ndjson", "csv")
#: Formats that summarise a whole run for a monitoring system (``xiot probe`` only).
MONITORING_FORMATS: tuple[str, ...] = ("nagios", "openmetrics")
#: Every format ``-o`` and ``XIOT_OUTPUT`` accept, in the order help texts list them.
ALL_FORMATS: tuple[str, ...] = RECORD_FORMATS + MONITORING_FORMATS


class OutputClosed(Exception):
    """The reader of stdout went away (``xiot ... | head``): stop quietly, not as a failure.

    Deliberately not an OSError, so that nothing on the way mistakes it for a network error.
    """


def _write(stream: IO[str], text: str, flush: bool) -> None:
    try:
        stream.write(text)
        if flush:
            stream.flush()
    except BrokenPipeError:
        raise OutputClosed from None


def decide_format(flag: str | None, env: str | None, stdout_isatty: bool,
                  allowed: Sequence[str] = RECORD_FORMATS) -> str:
    """The one place the output format is decided: ``-o`` > ``XIOT_OUTPUT`` > TTY default.

    An unknown name, or one this command cannot render, is a usage error (exit 2) that says
    where the name came from.
    """
    from xiot.errors import UsageError

    chosen = flag or env or ("table" if stdout_isatty else "ndjson")
    where = "-o" if flag else "XIOT_OUTPUT"
    if chosen not in ALL_FORMATS:
        raise UsageError(f"{where}: unknown output format '{chosen}'",
                         f"Use one of {', '.join(allowed)}")
    if chosen not in allowed:
        only = "'xiot probe'" if chosen in MONITORING_FORMATS else "other commands"
        raise UsageError(f"{where} {chosen} is only available for {only}",
                         f"Use one of {', '.join(allowed)}")
    return chosen


def jsonable(value: Any) -> Any:
    """The one rule for turning a value into JSON, used by every command and renderer.

    Dates and times become ISO 8601 text, durations seconds, enums their value, sets sorted
    lists, tuples lists, ``Decimal`` a float, bytes lowercase hex (lossless), NaN and
    infinity ``null`` (JSON has neither, and ``jq`` rejects them), anything else its text.
    """
    if value is None or isinstance(value, bool | int | str):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, Mapping):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [jsonable(v) for v in value]
    if isinstance(value, set | frozenset):
        return sorted((jsonable(v) for v in value), key=lambda v: (str(type(v)), str(v)))
    return json_default(value)


def json_default(value: Any) -> Any:
    """``json.dumps``'s hook for the scalar types records commonly hold (see ``jsonable``)."""
    if isinstance(value, dt.datetime | dt.date | dt.time):
        return value.isoformat()
    if isinstance(value, dt.timedelta):
        return value.total_seconds()
    if isinstance(value, Path):
        return str(value)
    if isinstance(value, enum.Enum):
        return jsonable(value.value)
    if isinstance(value, Decimal):
        return jsonable(float(value))
    if isinstance(value, set | frozenset | tuple):
        return jsonable(value)
    if isinstance(value, bytes):
        return value.hex()
    return str(value)


def to_json(value: Any, indent: int | None = None) -> str:
    separators = None if indent else (",", ":")
    try:
        return json.dumps(value, default=json_default, ensure_ascii=False, indent=indent,
                          separators=separators, allow_nan=False)
    except ValueError:  # NaN or infinity somewhere: the rare case pays for the walk
        return json.dumps(jsonable(value), default=json_default, ensure_ascii=False,
                          indent=indent, separators=separators)


def cell_text(value: Any) -> str:
    """A value as it reads in a table or CSV cell."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, float):
        return f"{value:.3f}".rstrip("0").rstrip(".") if math.isfinite(value) else str(value)
    if isinstance(value, list | tuple | set | frozenset):
        return ", ".join(cell_text(v) for v in value)
    if isinstance(value, Mapping):
        return to_json(value)
    return str(json_default(value)) if not isinstance(value, str) else value


#: Characters that change how a terminal shows what follows them: C0/C1 controls (escape
#: sequences, carriage returns) and the bidirectional overrides and isolates.
_UNSAFE = {*range(0x00, 0x20), *range(0x7F, 0xA0), 0x061C, 0x200E, 0x200F,
           *range(0x202A, 0x202F), *range(0x2066, 0x206A)}
_ESCAPES = {code: f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}" for code in _UNSAFE}


def terminal_safe(text: str) -> str:
    """``text`` with every control and bidi-override character shown as an escape.

    A device's name or a server's error text is data from the network; printed as it is, an
    ESC sequence could rewrite the operator's screen and U+202E reverse what they read.
    Tables show the escape (``\\u202e``); JSON keeps the character, escaped by JSON itself.
    """
    if text.isprintable():
        return text
    return text.translate(_ESCAPES)


class Sink(Protocol):
    def emit(self, record: Mapping[str, Any]) -> None: ...

    def flush(self) -> None: ...

    def close(self) -> None: ...


@dataclass
class NdjsonSink:
    """One JSON object per line; flushed per record unless the caller batches (autoflush)."""

    stream: IO[str]
    autoflush: bool = True

    def emit(self, record: Mapping[str, Any]) -> None:
        _write(self.stream, to_json(dict(record)) + "\n", self.autoflush)

    def flush(self) -> None:
        _write(self.stream, "", True)

    def close(self) -> None:
        _write(self.stream, "", True)


@dataclass
class JsonSink:
    stream: IO[str]
    single: bool = False
    records: list[dict[str, Any]] = field(default_factory=list)

    def emit(self, record: Mapping[str, Any]) -> None:
        self.records.append(dict(record))

    def flush(self) -> None:
        """A JSON document is written whole on close."""

    def close(self) -> None:
        payload: Any = self.records[0] if self.single and len(self.records) == 1 else self.records
        _write(self.stream, to_json(payload, indent=2) + "\n", True)


@dataclass
class CsvSink:
    stream: IO[str]
    columns: Sequence[str] | None = None
    autoflush: bool = True
    _writer: Any = None

    def emit(self, record: Mapping[str, Any]) -> None:
        if self._writer is None:
            self.columns = list(self.columns or record.keys())
            self._writer = csv.writer(self.stream, lineterminator="\n")
            self._writer.writerow(self.columns)
        assert self.columns is not None
        try:
            self._writer.writerow([cell_text(record.get(c)) for c in self.columns])
        except BrokenPipeError:
            raise OutputClosed from None
        if self.autoflush:
            _write(self.stream, "", True)

    def flush(self) -> None:
        _write(self.stream, "", True)

    def close(self) -> None:
        if self._writer is None and self.columns:  # no rows: the header still says what
            _write(self.stream, ",".join(self.columns) + "\n", False)
        _write(self.stream, "", True)


@dataclass
class TableSink:
    """A rich table, printed when complete.  Columns come from the first record if not given."""

    stream: IO[str]
    columns: Sequence[str] | None = None
    title: str | None = None
    no_color: bool = False
    styles: Mapping[str, Mapping[str, str]] = field(default_factory=dict)
    records: list[dict[str, Any]] = field(default_factory=list)
    printed: bool = False
    #: Columns whose values group consecutive rows: shown once per group, a rule between.
    group_by: Sequence[str] = ()

    def emit(self, record: Mapping[str, Any]) -> None:
        self.records.append(dict(record))

    def flush(self) -> None:
        """A table is printed whole on close."""

    def close(self) -> None:
        from rich.console import Console
        from rich.table import Table

        console = Console(file=self.stream, no_color=self.no_color or _no_color_env(),
                          highlight=False, soft_wrap=False, width=_table_width(self.stream))
        if not self.records:
            if not self.printed:
                sys.stderr.write("xiot: nothing to show\n")
            return
        columns = list(self.columns or self.records[0].keys())
        table = Table(title=self.title, show_lines=False, header_style="bold")
        for name in columns:
            table.add_column(name.replace("_", " "), overflow="fold")
        previous: tuple[Any, ...] | None = None
        for record in self.records:
            group = tuple(record.get(name) for name in self.group_by)
            if previous is not None and group != previous:
                table.add_section()
            # a grouping column is shown when it, or a column it nests in, changes
            same = 0
            while same < len(group) and previous is not None and group[same] == previous[same]:
                same += 1
            hidden = set(self.group_by[:same])
            table.add_row(*(self._cell(name, None if name in hidden else record.get(name))
                            for name in columns))
            previous = group
        console.print(table)
        self.records = []  # closing again (the next round of a watch) starts afresh
        self.printed = True

    def _cell(self, column: str, value: Any) -> str:
        from rich.markup import escape

        text = escape(terminal_safe(cell_text(value)))
        style = self.styles.get(column, {}).get(cell_text(value))
        return f"[{style}]{text}[/]" if style and text else text


def _table_width(stream: IO[str]) -> int | None:
    """The terminal's width, or a generous one when a table is written to a pipe or file
    (rich would otherwise fold every column into 80 characters)."""
    isatty = getattr(stream, "isatty", None)
    if isatty is not None and isatty():
        return None
    columns = os.environ.get("COLUMNS", "")
    return int(columns) if columns.isdigit() else 200


def _no_color_env() -> bool:
    return os.environ.get("NO_COLOR", "") != ""


def open_sink(
    fmt: str,
    columns: Sequence[str] | None = None,
    title: str | None = None,
    no_color: bool = False,
    single: bool = False,
    styles: Mapping[str, Mapping[str, str]] | None = None,
    stream: IO[str] | None = None,
    autoflush: bool = True,
    group_by: Sequence[str] = (),
) -> Sink:
    """A sink for ``fmt`` writing to ``stream`` (stdout by default).

    ``group_by`` names columns that group consecutive rows in a table (ignored elsewhere).

    ``autoflush=False`` lets a caller that emits records in groups (a readout's fields) flush
    once per group with ``flush()``.
    """
    factory = SINKS.get(fmt)
    if factory is None:
        raise ValueError(f"no record renderer for {fmt!r}")
    return factory(SinkOptions(stream or sys.stdout, columns, title, no_color, single,
                               styles or {}, autoflush, tuple(group_by)))


@dataclass(frozen=True)
class SinkOptions:
    """What a renderer may use; each takes what its format needs and ignores the rest."""

    stream: IO[str]
    columns: Sequence[str] | None
    title: str | None
    no_color: bool
    single: bool
    styles: Mapping[str, Mapping[str, str]]
    autoflush: bool
    group_by: tuple[str, ...] = ()


#: Record renderers by format name: the one registry ``-o`` is looked up in.  The monitoring
#: formats are rendered from whole probe runs (``xiot.probes.render``), not record by record.
SINKS: dict[str, Callable[[SinkOptions], Sink]] = {
    "ndjson": lambda o: NdjsonSink(o.stream, o.autoflush),
    "json": lambda o: JsonSink(o.stream, single=o.single),
    "csv": lambda o: CsvSink(o.stream, o.columns, o.autoflush),
    "table": lambda o: TableSink(o.stream, o.columns, o.title, o.no_color, o.styles,
                                 group_by=o.group_by),
}


def render(
    records: Iterable[Mapping[str, Any]],
    fmt: str,
    **options: Any,
) -> None:
    """Write all ``records`` in ``fmt``; see ``open_sink`` for the options."""
    write_all(open_sink(fmt, **options), records)


def write_all(sink: Sink, records: Iterable[Mapping[str, Any]]) -> None:
    """Every record into ``sink``, then close it (also when a record cannot be written)."""
    try:
        for record in records:
            sink.emit(record)
    finally:
        sink.close()


def key_value_records(mapping: Mapping[str, Any]) -> list[dict[str, Any]]:
    """One mapping as (key, value) rows: how a single object reads best in a table."""
    return [{"key": k, "value": v} for k, v in mapping.items()]


STATUS_STYLES = {"ok": "green", "warn": "yellow", "fail": "red", "error": "red",
                 "timeout": "red", "skip": "dim", "offline": "yellow", "note": "cyan"}
