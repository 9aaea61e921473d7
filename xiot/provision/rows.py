"""Provisioning input: CSV with a header, or JSON Lines, read whole and checked before use.

Every row keeps its line number, so a result (or a complaint) names the line it came from.
The whole file is validated before anything changes on the server: a bad JID on line 9,000
must not leave 8,999 accounts half-provisioned.  Kept small and separate so it can give way to
a shared reader of records.

Formats (chosen by the first non-blank character: ``{`` is JSON Lines, anything else CSV):

- CSV: a header line naming the columns, then one row per line; ``#`` lines are comments.
- JSON Lines: one object per line; list values (``groups``) may be JSON arrays.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from xiot.errors import UsageError


@dataclass(frozen=True)
class Row:
    line: int
    values: dict[str, Any]

    def get(self, key: str) -> str | None:
        value = self.values.get(key)
        if value is None:
            return None
        text = str(value).strip() if not isinstance(value, list) else ";".join(value)
        return text or None

    def items(self, key: str) -> tuple[str, ...]:
        """A list value: a JSON array, or ``a;b`` (CSV cells cannot hold commas unquoted)."""
        value = self.values.get(key)
        if isinstance(value, list):
            return tuple(str(v).strip() for v in value if str(v).strip())
        if value is None:
            return ()
        return tuple(part.strip() for part in str(value).split(";") if part.strip())


@dataclass(frozen=True)
class Problem:
    line: int
    reason: str

    def __str__(self) -> str:
        return f"line {self.line}: {self.reason}"


@dataclass
class Checked:
    """Rows that passed, and the problems of those that did not."""

    rows: list[Any] = field(default_factory=list)
    problems: list[Problem] = field(default_factory=list)


def parse_rows(text: str, name: str) -> tuple[list[Row], list[Problem]]:
    """Rows of a CSV or JSON Lines text, with problems of lines that are not rows at all."""
    lines = text.splitlines()
    first = next((line.strip() for line in lines if line.strip()
                  and not line.lstrip().startswith("#")), "")
    if not first:
        raise UsageError(f"{name}: no rows", "Give a CSV with a header line, or JSON Lines")
    if first.startswith("{"):
        return _json_lines(lines)
    return _csv_rows(lines)


def _json_lines(lines: list[str]) -> tuple[list[Row], list[Problem]]:
    rows, problems = [], []
    for number, line in enumerate(lines, start=1):
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        try:
            value = json.loads(line)
        except ValueError as exc:
            problems.append(Problem(number, f"not JSON ({exc.msg})"))
            continue
        if not isinstance(value, dict):
            problems.append(Problem(number, "not a JSON object"))
            continue
        rows.append(Row(number, value))
    return rows, problems


def _csv_rows(lines: list[str]) -> tuple[list[Row], list[Problem]]:
    numbered = [(n, line) for n, line in enumerate(lines, start=1)
                if line.strip() and not line.lstrip().startswith("#")]
    reader = csv.reader(io.StringIO("\n".join(line for _, line in numbered)))
    header: list[str] | None = None
    rows, problems = [], []
    for (number, _), cells in zip(numbered, reader, strict=False):
        if header is None:
            header = [c.strip().lower() for c in cells]
            continue
        if len(cells) > len(header):
            problems.append(Problem(number, f"{len(cells)} cells for {len(header)} columns"))
            continue
        rows.append(Row(number, dict(zip(header, cells, strict=False))))
    return rows, problems


def check_rows(rows: Iterable[Row], problems: Sequence[Problem],
               build: Callable[[Row], Any], key: Callable[[Any], Any]) -> Checked:
    """Build each row (``build`` raises ``ValueError`` with the reason for a bad one) and
    report duplicates of ``key`` naming the line that came first."""
    checked = Checked(problems=list(problems))
    first: dict[Any, int] = {}
    for row in rows:
        try:
            item = build(row)
        except ValueError as exc:
            checked.problems.append(Problem(row.line, str(exc)))
            continue
        seen = first.setdefault(key(item), row.line)
        if seen != row.line:
            checked.problems.append(Problem(row.line, f"duplicate of line {seen}"))
            continue
        checked.rows.append(item)
    checked.problems.sort(key=lambda p: p.line)
    return checked


def refuse(name: str, problems: Sequence[Problem]) -> UsageError:
    """The one-line error for invalid input: every bad line named (the first ten shown)."""
    shown = "; ".join(str(p) for p in problems[:10])
    more = f"; and {len(problems) - 10} more" if len(problems) > 10 else ""
    return UsageError(f"{name}: {len(problems)} invalid row{'s' * (len(problems) != 1)}, "
                      f"nothing was changed: {shown}{more}",
                      "Fix those lines, or pass --keep-going to process the valid rows")


def bare_jid(text: str | None, what: str = "jid") -> str:
    """A bare JID from a cell, or ``ValueError`` saying why not."""
    from xiot.xmpp.jid import parse_jid

    if not text:
        raise ValueError(f"missing {what}")
    try:
        jid = parse_jid(text)
    except UsageError as exc:
        raise ValueError(f"bad {what} {text!r}: {exc.message.split(': ', 1)[-1]}") from None
    if jid.is_full:
        raise ValueError(f"{what} {text!r} has a resource; give a bare JID (user@domain)")
    if not jid.local:
        raise ValueError(f"{what} {text!r} is a domain, not an account")
    return jid.bare
