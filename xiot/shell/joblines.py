"""What a background job writes, turned into lines the shell can print above the prompt.

A job runs with a non-terminal ``Environment`` whose streams are ``LineStream``s: commands
then pick their piped format (NDJSON, one record per line) and never draw a live view.
``record_line`` turns one such record into one readable line; when the user asked for a
format themselves (``explicit_format``) its lines are printed as they come.
"""

from __future__ import annotations

import io
import json
import os
import threading
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from xiot.output import terminal_safe

#: A line longer than this is passed on in pieces rather than held without bound.
MAX_LINE = 64 * 1024

#: Readout rows carry these for machines; the readable line leaves them out.
_READING_DETAIL = ("raw", "decimals", "type", "categories", "flags", "writable", "source_id",
                   "cache_type", "data_type")


class LineStream(io.TextIOBase):
    """A text stream that hands each complete line to ``on_line`` (from any thread).

    Commands write to it from their worker thread and from the shell's loop; nothing here
    blocks or waits for the terminal: ``on_line`` only queues."""

    def __init__(self, on_line: Callable[[str], None]) -> None:
        super().__init__()
        self._on_line = on_line
        self._partial = ""
        self._lock = threading.Lock()

    def writable(self) -> bool:
        return True

    def isatty(self) -> bool:
        return False

    def write(self, text: str) -> int:
        with self._lock:
            self._partial += text
            *lines, self._partial = self._partial.split("\n")
            if len(self._partial) > MAX_LINE:
                lines.append(self._partial)
                self._partial = ""
        for line in lines:
            self._on_line(line)
        return len(text)

    def flush(self) -> None:
        """Nothing to do: a partial line waits for its end (or ``finish``)."""

    def finish(self) -> None:
        """Pass on what was written without a final newline."""
        with self._lock:
            rest, self._partial = self._partial, ""
        if rest:
            self._on_line(rest)


def explicit_format(words: Sequence[str], inherited: Sequence[str] = ()) -> bool:
    """Whether the user chose the output format (``-o``, ``--output``, ``XIOT_OUTPUT``)."""
    if os.environ.get("XIOT_OUTPUT"):
        return True
    for word in (*inherited, *words):
        if word in ("-o", "--output") or word.startswith("--output="):
            return True
        if word.startswith("-o") and not word.startswith("--") and len(word) > 2:
            return True
    return False


def shown_line(line: str, readable: bool) -> str:
    """The text printed for one stdout line of a job: a record made readable, or as is."""
    if readable and line.startswith("{"):
        try:
            record = json.loads(line)
        except ValueError:
            record = None
        if isinstance(record, dict):
            return record_line(record)
    return terminal_safe(line)


def record_line(record: Mapping[str, Any]) -> str:
    """One record as one line: ``jid name=value unit`` for a reading, else ``k=v`` pairs.

    Nulls and empty values are left out; text from the network is made terminal-safe."""
    fields = {k: v for k, v in record.items() if v is not None and v != "" and v != []}
    parts: list[str] = []
    if "jid" in fields:
        parts.append(_text(fields.pop("jid")))
    if "name" in fields and "value" in fields:
        reading = f"{_text(fields.pop('name'))}={_value(fields.pop('value'))}"
        unit = fields.pop("unit", None)
        parts.append(reading + (f" {_text(unit)}" if unit is not None else ""))
        for key in _READING_DETAIL:
            fields.pop(key, None)
        if fields.get("status") == "ok":
            del fields["status"]
    parts += [f"{_text(key)}={_value(value)}" for key, value in fields.items()]
    return terminal_safe(" ".join(parts))


def _text(value: Any) -> str:
    return value if isinstance(value, str) else _value(value)


def _value(value: Any) -> str:
    """A value as ``k=v`` shows it: plain words bare, text with spaces quoted, JSON else."""
    if isinstance(value, str):
        plain = value and not any(c.isspace() or c in "=\"'" for c in value)
        return value if plain else json.dumps(value, ensure_ascii=False)
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"))
