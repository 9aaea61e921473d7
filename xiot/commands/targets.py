"""Reading the list of devices a command should address (arguments, a file, or stdin)."""

from __future__ import annotations

import csv
import sys
from pathlib import Path

from xiot.errors import UsageError
from xiot.xmpp.jid import Jid, parse_jid


def collect_jids(args: list[str], from_file: str | None) -> list[Jid]:
    """JIDs from arguments and ``--from-file`` (one per line, or a CSV with a ``jid`` column).

    Duplicates are dropped (keeping order) so a device is never read twice in one run.
    """
    texts = list(args)
    if from_file is not None:
        texts += _read_list(from_file)
    if not texts:
        raise UsageError("no devices given",
                         "Name JIDs as arguments, or use --from-file FILE (- for stdin)")
    seen: dict[str, Jid] = {}
    for text in texts:
        jid = parse_jid(text)
        seen.setdefault(str(jid), jid)
    return list(seen.values())


def _read_list(source: str) -> list[str]:
    if source == "-":
        text = sys.stdin.read()
        where = "stdin"
    else:
        try:
            text = Path(source).read_text(encoding="utf-8")
        except OSError as exc:
            raise UsageError(f"cannot read {source}: {exc.strerror}") from None
        except UnicodeDecodeError:
            raise UsageError(f"{source} is not UTF-8 text") from None
        where = source
    lines = [line for line in text.splitlines() if line.strip()
             and not line.lstrip().startswith("#")]
    if lines and lines[0].lstrip().startswith("{"):
        return _ndjson_jids(lines, where)
    if lines and "," in lines[0]:
        return _csv_column(lines, where)
    return [line.strip() for line in lines]


def _ndjson_jids(lines: list[str], where: str) -> list[str]:
    """The ``jid`` of each NDJSON record: xiot's own piped output can feed another xiot."""
    import json

    out = []
    for number, line in enumerate(lines, start=1):
        try:
            record = json.loads(line)
        except ValueError:
            raise UsageError(f"{where}:{number}: not a JSON object",
                             "Give one JID per line, a CSV with a jid column, or NDJSON") from None
        if not isinstance(record, dict) or not isinstance(record.get("jid"), str):
            raise UsageError(f"{where}:{number}: record without a 'jid' string")
        out.append(record["jid"])
    return out


def _csv_column(lines: list[str], where: str) -> list[str]:
    try:
        rows = list(csv.reader(lines))
    except csv.Error as exc:
        raise UsageError(f"{where}: unparsable CSV ({exc})") from None
    header = [h.strip().lower() for h in rows[0]]
    if "jid" not in header:
        raise UsageError(f"{where}: CSV without a 'jid' column",
                         "Give one JID per line, or a CSV whose header names a jid column")
    column = header.index("jid")
    out = []
    for number, row in enumerate(rows[1:], start=2):
        if len(row) != len(header):
            raise UsageError(f"{where}:{number}: expected {len(header)} columns, got {len(row)}")
        out.append(row[column].strip())
    return out
