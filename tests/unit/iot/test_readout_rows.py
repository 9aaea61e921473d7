"""Readout rows show the value as the device sent it in text formats, typed in JSON."""

from __future__ import annotations

import csv
import io
import json
from datetime import UTC, datetime

from xiot.iot.model import Field, Reading
from xiot.iot.readout import ROW_COLUMNS, TABLE_COLUMNS, reading_rows
from xiot.output import open_sink

NOW = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
READING = Reading("thermo@x.test/sim", "ok", (
    Field("Temperature", "numeric", 18.0, node="Device01", unit="°C", timestamp=NOW,
          decimals=1, raw="18.0"),
    Field("Energy", "numeric", 1234.5, unit="kWh", timestamp=NOW, decimals=3, raw="1234.500"),
    Field("Output", "boolean", True, timestamp=NOW, raw="1"),
    Field("Count", "int", 7, timestamp=NOW, raw="7"),
), (), (), 3.0)


def rendered(fmt: str, rows: list[dict]) -> str:  # type: ignore[type-arg]
    stream = io.StringIO()
    sink = open_sink(fmt, columns=TABLE_COLUMNS if fmt == "table" else ROW_COLUMNS,
                     stream=stream, no_color=True)
    for row in rows:
        sink.emit(row)
    sink.close()
    return stream.getvalue()


def test_csv_keeps_the_devices_decimals() -> None:
    text = rendered("csv", reading_rows(READING, as_sent=True))
    values = [row["value"] for row in csv.DictReader(io.StringIO(text))]
    assert values == ["18.0", "1234.500", "1", "7"]


def test_table_keeps_the_devices_decimals(monkeypatch) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.setenv("COLUMNS", "200")
    text = rendered("table", reading_rows(READING, as_sent=True))
    temperature = next(line for line in text.splitlines() if "Temperature" in line)
    assert "18.0" in temperature.split()
    assert "1234.500" in text


def test_json_keeps_typed_values_and_the_raw_text_beside_them() -> None:
    rows = [json.loads(line) for line in rendered("ndjson", reading_rows(READING)).splitlines()]
    assert [r["value"] for r in rows] == [18.0, 1234.5, True, 7]
    assert [r["raw"] for r in rows] == ["18.0", "1234.500", "1", "7"]
    assert isinstance(rows[0]["value"], float)


def test_as_sent_changes_only_the_value_column() -> None:
    typed, text = reading_rows(READING), reading_rows(READING, as_sent=True)
    assert all(tuple(r) == ROW_COLUMNS for r in text)
    for a, b in zip(typed, text, strict=True):
        assert {k: v for k, v in a.items() if k != "value"} == \
            {k: v for k, v in b.items() if k != "value"}
        assert b["value"] == a["raw"]
