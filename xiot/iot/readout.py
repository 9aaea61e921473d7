"""Fleet readout: resolve the devices the user named, then read them over one connection.

This is what ``xiot readout`` runs; it is a library function so scripts get the same
behaviour: bare JIDs are resolved from presence, unreachable devices come back as ``Reading``s
with status ``offline`` (never as exceptions), and readings stream out as they complete.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from typing import TYPE_CHECKING, Any

from xiot.iot.model import Reading, ReadoutRequest
from xiot.presence.resolve import Target, stream_targets
from xiot.xmpp.jid import Jid

if TYPE_CHECKING:
    from xiot.xmpp.session import Session


async def read_devices(
    session: Session,
    jids: Sequence[Jid],
    request: ReadoutRequest,
    timeout: float,
    concurrency: int = 100,
    *,
    max_fields: int | None = None,
) -> AsyncIterator[Reading]:
    """Yield one Reading per requested JID, as each completes.

    Bare JIDs are resolved from presence while readouts already run: a device is read as soon
    as its presence has told us its resource, so the presence burst and the readouts overlap.
    An unreachable device comes back as a Reading (``offline``, ``not-subscribed``), never as
    an exception.  ``timeout`` bounds each device's whole readout; ``max_fields`` (default
    ``sensordata.client.MAX_FIELDS``) caps the fields kept from one device.
    """
    from xiot.fanout import bounded_stream
    from xiot.iot.sensordata.client import MAX_FIELDS, read

    cap = max_fields or MAX_FIELDS

    async def one(target: Target) -> Reading:
        if target.jid is None:
            return unreachable(target, request)
        return await read(session, target.jid, request, timeout, max_fields=cap)

    async for reading in bounded_stream(stream_targets(session, jids, timeout), one,
                                        concurrency):
        yield reading


def unreachable(target: Target, request: ReadoutRequest) -> Reading:
    """A Reading for a device that could not be addressed at all."""
    node = request.nodes[0].node_id if len(request.nodes) == 1 else None
    return Reading(jid=target.requested, status="offline", fields=(),
                   errors=(target.reason or target.status,), missing=(), elapsed_ms=0.0,
                   node=node, condition=target.status)


#: Columns of a readout row, in order: identity, value, then detail.
ROW_COLUMNS = ("jid", "node", "name", "value", "unit", "timestamp", "status", "type",
               "categories", "flags", "raw", "decimals", "writable", "source_id", "cache_type",
               "data_type", "error")
TABLE_COLUMNS = ("jid", "node", "name", "value", "unit", "timestamp", "status", "error")


def reading_rows(reading: Reading, *, as_sent: bool = False) -> list[dict[str, Any]]:
    """Flat rows for output: one per field, plus one naming each failure or missing part.

    ``value`` is the typed value (a number stays a number in JSON), ``raw`` the text the
    device sent.  Formats that show text (table, CSV) should ask ``as_sent``: ``value`` then
    holds that text, because a float cannot carry the device's decimals ("18.0" would read
    ``18``, "21.456" ``21.456`` but "1e3" ``1000``) and the decimals are part of the value.
    """
    value_key = "raw" if as_sent else "value"
    rows = []
    for record in reading.field_records():
        rows.append({key: record.get(key) for key in ROW_COLUMNS}
                    | {"value": record.get(value_key), "error": None})
    problems = list(reading.errors)
    if reading.missing and reading.status != "ok":
        problems.append("missing: " + ", ".join(reading.missing))
    if reading.status != "ok" and not problems:
        problems.append(reading.condition or reading.status)
    if problems:
        rows.append({key: None for key in ROW_COLUMNS} | {
            "jid": reading.jid, "node": reading.node, "status": reading.status,
            "error": "; ".join(problems)})
    return rows
