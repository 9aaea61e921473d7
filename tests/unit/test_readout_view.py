"""The readout views: sorted rows, the wide pivot, --columns, the category column, the tally."""

from __future__ import annotations

import pytest

from xiot.commands import readout_view as view
from xiot.errors import UsageError


def row(jid, name=None, value=None, unit=None, node=None, error=None, raw=None, status="ok"):
    return {"jid": jid, "node": node, "name": name, "value": value, "unit": unit,
            "raw": raw, "status": status, "error": error}


ROWS = [row("b@x/s", "Power", 2.0, "W", raw="2.0"), row("a@x/s", "Temperature", 18.0, "°C",
                                                         raw="18.0"),
        row("a@x/s", "Humidity", 40, "%", raw="40"),
        row("c@x/s", error="timeout", status="timeout"), row("a@x/s", error=None, name="On",
                                                              value=True, raw="true")]


def test_rows_sorted_by_device_with_field_order_kept():
    ordered = view.sort_rows(ROWS)
    assert [(r["jid"], r["name"]) for r in ordered] == [
        ("a@x/s", "Temperature"), ("a@x/s", "Humidity"), ("a@x/s", "On"), ("b@x/s", "Power"),
        ("c@x/s", None)]


def test_wide_view_is_one_row_per_device_with_device_text_and_units():
    rows, columns = view.pivot(ROWS)
    assert columns == ("jid", "Power", "Temperature", "Humidity", "On", "status", "error")
    by_jid = {r["jid"]: r for r in rows}
    assert by_jid["a@x/s"]["Temperature"] == "18.0 °C"  # the device's decimals kept
    assert by_jid["a@x/s"]["On"] == "true"
    assert by_jid["c@x/s"]["error"] == "timeout" and "Power" not in by_jid["c@x/s"]


def test_columns_are_checked_and_ordered():
    assert view.choose_columns(("value", "jid"), ("jid", "value", "unit")) == ("value", "jid")
    assert view.choose_columns(None, ("jid", "value")) == ("jid", "value")
    with pytest.raises(UsageError) as bad:
        view.choose_columns(("vlaue",), ("jid", "value"))
    assert "no column 'vlaue'" in bad.value.message and "jid, value" in bad.value.hint


def test_category_column_only_when_several_categories_are_read():
    base = ("jid", "name", "value", "unit", "status")
    assert view.table_columns(base, False) == base
    assert view.table_columns(base, True) == ("jid", "name", "value", "unit", "categories",
                                              "status")


def test_tally_line():
    tally = view.Tally()
    tally.add("ok", 4)
    tally.add("timeout", 0)
    assert tally.line(0.314) == "2 devices, 4 values, 1 failed, 0.31 s"
