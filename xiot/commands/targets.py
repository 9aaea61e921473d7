"""Reading the list of devices a command should address (arguments, a file, or stdin).

The file shapes (JID per line, CSV with a ``jid`` column, NDJSON) and their line-numbered
errors come from ``xiot.records``; this module only prepares each value as a JID.  Every JID
is checked before any connection is made, so one bad line stops the run with
``devices.txt:7: malformed JID ...`` (exit 2) instead of ending it half way.
"""

from __future__ import annotations

from xiot.errors import UsageError
from xiot.xmpp.jid import Jid, parse_jid


def collect_jids(args: list[str], from_file: str | None) -> list[Jid]:
    """JIDs from arguments and ``--from-file`` (``-`` for stdin).

    Duplicates are dropped (keeping order), compared after preparation so that
    ``Dev1@X.test`` and ``dev1@x.test`` are read once.
    """
    from xiot.records import read_records

    jids = [parse_jid(text) for text in args]
    if from_file is not None:
        for record in read_records(from_file, "jid"):
            try:
                jids.append(parse_jid(record.value))
            except UsageError as exc:
                raise record.error(exc.message, exc.hint) from None
    if not jids:
        raise UsageError("no devices given",
                         "Name JIDs as arguments, or use --from-file FILE (- for stdin)")
    seen: dict[str, Jid] = {}
    for jid in jids:
        seen.setdefault(str(jid), jid)
    return list(seen.values())
