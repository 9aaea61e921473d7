"""How a fleet readout is shown: sorted rows, the wide (pivot) view, chosen columns, a summary.

Pure functions over readout rows (``xiot.iot.readout.reading_rows``), so the views are tested
without a network and the command stays a thin loop.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from xiot.errors import UsageError

#: Columns that identify a device in every view.
IDENTITY = ("jid", "node")


def sort_rows(rows: Iterable[Mapping[str, Any]]) -> list[Mapping[str, Any]]:
    """Rows in a stable order for a person: by device and node, fields in the device's order
    (a failure row after the device's values)."""
    return sorted(rows, key=lambda r: (str(r.get("jid") or ""), str(r.get("node") or ""),
                                       r.get("error") is not None))


def table_columns(base: Sequence[str], several_categories: bool) -> tuple[str, ...]:
    """The table's columns; the category column appears when more than one kind is read,
    so historical rows never look like momentary ones."""
    if not several_categories or "categories" in base:
        return tuple(base)
    at = list(base).index("unit") + 1 if "unit" in base else len(base)
    return (*base[:at], "categories", *base[at:])


def pivot(rows: Iterable[Mapping[str, Any]]) -> tuple[list[dict[str, Any]], tuple[str, ...]]:
    """One row per device (and node) with its fields as columns: the ``--wide`` view.

    Returns the rows and the union of their columns (identity, fields in first-seen order,
    then status and error when any device failed).  A field that appears with several
    timestamps (historical values) keeps the latest one.
    """
    devices: dict[tuple[str, str], dict[str, Any]] = {}
    fields: dict[str, None] = {}
    failed = False
    for row in rows:
        key = (str(row.get("jid") or ""), str(row.get("node") or ""))
        wide = devices.setdefault(key, {"jid": row.get("jid"), "node": row.get("node")})
        if row.get("error") is not None:
            wide["status"], wide["error"] = row.get("status"), row.get("error")
            failed = True
            continue
        name = str(row.get("name"))
        unit = row.get("unit")
        value = row.get("raw") if row.get("raw") is not None else row.get("value")
        wide[name] = f"{value} {unit}" if unit and value is not None else value
        fields.setdefault(name)
    has_nodes = any(node for _, node in devices)
    columns = ("jid", *(("node",) if has_nodes else ()), *fields,
               *(("status", "error") if failed else ()))
    return [devices[key] for key in sorted(devices)], columns


def choose_columns(wanted: Sequence[str] | None, available: Sequence[str]) -> tuple[str, ...]:
    """``--columns``: the user's choice, checked against what the view has."""
    if not wanted:
        return tuple(available)
    unknown = [name for name in wanted if name not in available]
    if unknown:
        raise UsageError(f"--columns: no column {', '.join(repr(u) for u in unknown)}",
                         f"Columns here: {', '.join(available)}")
    return tuple(wanted)


@dataclass
class Tally:
    """What the end summary counts: devices, values, failures, time."""

    devices: int = 0
    values: int = 0
    failed: int = 0

    def add(self, status: str, values: int) -> None:
        self.devices += 1
        self.values += values
        self.failed += status != "ok"

    def line(self, seconds: float) -> str:
        return (f"{self.devices} device{'s' * (self.devices != 1)}, {self.values} values, "
                f"{self.failed} failed, {seconds:.2f} s")
