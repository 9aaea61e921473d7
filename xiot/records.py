"""Reading input files of records: plain lines, CSV with a named column, NDJSON.

One reader for every command that takes a list from a file or stdin (device JIDs today,
accounts and scenarios later), so that all of them accept the same shapes and every error
names the file and the line (``devices.txt:7: ...``) the way compilers do, since that is what
an operator fixes.  This module knows nothing about what the values mean: a caller checks each
``Record`` and turns a bad value into an error with ``Record.error``.

Shapes, decided from the first line that is not blank or a comment:

* a line starting with ``{``: NDJSON, one JSON object per line (xiot's own ``-o ndjson``
  output can feed another xiot);
* a line with a comma, or the column's name alone: CSV whose header names the wanted column
  (a one-column spreadsheet export is still CSV);
* otherwise one value per line.

Text is UTF-8 with or without a byte-order mark (spreadsheets write one), with LF or CRLF
line ends.  Blank lines and lines starting with ``#`` are skipped; line numbers count them.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from xiot.errors import UsageError

_SHAPES_HINT = "Give one value per line, a CSV with a {column} column, or NDJSON records"


@dataclass(frozen=True)
class Record:
    """One value read from a file, and where it was: enough to name it in an error."""

    where: str
    line: int
    value: str

    def error(self, message: str, hint: str | None = None) -> UsageError:
        """A usage error (exit 2) that starts with ``file:line:``."""
        return UsageError(f"{self.where}:{self.line}: {message}", hint)


@dataclass(frozen=True)
class Text:
    """The decoded text of a source and the name errors use for it."""

    where: str
    text: str


def read_text(source: str) -> Text:
    """The text of ``source`` (a path, or ``-`` for stdin), decoded as UTF-8 (BOM dropped)."""
    if source == "-":
        stream = sys.stdin.buffer if hasattr(sys.stdin, "buffer") else None
        data = stream.read() if stream is not None else sys.stdin.read().encode("utf-8")
        where = "stdin"
    else:
        try:
            data = Path(source).read_bytes()
        except OSError as exc:
            raise UsageError(f"cannot read {source}: {exc.strerror or exc}") from None
        where = source
    try:
        return Text(where, data.decode("utf-8-sig"))
    except UnicodeDecodeError as exc:
        line = data[:exc.start].count(b"\n") + 1
        raise UsageError(f"{where}:{line}: not UTF-8 text",
                         "Save the file as UTF-8") from None


def read_records(source: str, column: str) -> list[Record]:
    """The values of ``column`` in ``source``, whatever its shape (see the module docstring)."""
    text = read_text(source)
    return list(records(text, column))


def records(text: Text, column: str) -> Iterator[Record]:
    """The values of ``column`` in ``text``, in order."""
    numbered = list(_lines(text.text))
    first = next(((n, line) for n, line in numbered if _meaningful(line)), None)
    if first is None:
        return iter(())
    if first[1].lstrip().startswith("{"):
        return ndjson_values(text.where, numbered, column)
    if "," in first[1] or first[1].strip().lower() == column:
        return csv_values(text.where, numbered, column)
    return line_values(text.where, numbered)


def line_values(where: str, numbered: list[tuple[int, str]]) -> Iterator[Record]:
    """One value per line, stripped."""
    for number, line in numbered:
        if _meaningful(line):
            yield Record(where, number, line.strip())


def ndjson_values(where: str, numbered: list[tuple[int, str]], column: str
                  ) -> Iterator[Record]:
    """The string ``column`` of each JSON object, one object per line."""
    for number, line in numbered:
        if _meaningful(line):
            yield Record(where, number, _json_field(where, number, line, column))


def _json_field(where: str, number: int, line: str, column: str) -> str:
    import json

    try:
        item: Any = json.loads(line)
    except ValueError as exc:
        raise UsageError(f"{where}:{number}: not a JSON object ({exc.msg})",
                         _SHAPES_HINT.format(column=column)) from None
    if not isinstance(item, dict):
        raise UsageError(f"{where}:{number}: not a JSON object",
                         _SHAPES_HINT.format(column=column))
    value = item.get(column)
    if not isinstance(value, str):
        raise UsageError(f"{where}:{number}: record without a '{column}' string")
    return value


def csv_values(where: str, numbered: list[tuple[int, str]], column: str
               ) -> Iterator[Record]:
    """The ``column`` cell of each CSV row; the first row is the header.

    A row is numbered by the line it starts on (a quoted cell may span lines).
    """
    import csv

    kept = [(n, line) for n, line in numbered if _meaningful(line)]
    reader = csv.reader(line for _, line in kept)
    header: list[str] | None = None
    index = 0
    header_line = 0
    while True:
        consumed = reader.line_num
        try:
            row = next(reader)
        except StopIteration:
            return
        except csv.Error as exc:
            line = kept[min(consumed, len(kept) - 1)][0]
            raise UsageError(f"{where}:{line}: unreadable CSV ({exc})") from None
        number = kept[min(consumed, len(kept) - 1)][0]
        if header is None:
            header, header_line = [h.strip().lower() for h in row], number
            if column not in header:
                raise UsageError(f"{where}:{header_line}: CSV header without a '{column}' column",
                                 _SHAPES_HINT.format(column=column))
            index = header.index(column)
            continue
        if len(row) != len(header):
            raise UsageError(f"{where}:{number}: expected {len(header)} columns as in the "
                             f"header (line {header_line}), got {len(row)}")
        yield Record(where, number, row[index].strip())


def _lines(text: str) -> Iterator[tuple[int, str]]:
    """``(number, line)`` from 1, split on LF only (as editors count), CR of CRLF dropped.

    ``str.splitlines`` would also split on form feeds and U+2028, and the numbers would no
    longer be the ones an editor shows.
    """
    for number, line in enumerate(text.split("\n"), start=1):
        yield number, line[:-1] if line.endswith("\r") else line


def _meaningful(line: str) -> bool:
    stripped = line.strip()
    return bool(stripped) and not stripped.startswith("#")
