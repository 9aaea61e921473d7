"""Renderers: format selection, streaming, stable keys, values that JSON cannot hold."""

from __future__ import annotations

import datetime as dt
import io
import json

import pytest

from xiot.errors import UsageError
from xiot.output import decide_format, open_sink, render


class Tty(io.StringIO):
    def isatty(self) -> bool:
        return True


ROWS = [{"jid": "a@x.test", "value": 21.5, "ok": True},
        {"jid": "b@x.test", "value": None, "ok": False}]


def test_default_is_table_on_tty_and_ndjson_otherwise():
    assert decide_format(None, None, True) == "table"
    assert decide_format(None, None, False) == "ndjson"
    assert decide_format("csv", None, True) == "csv"


def test_flag_beats_environment_and_bad_names_are_usage_errors():
    assert decide_format("json", "csv", False) == "json"
    assert decide_format(None, "csv", True) == "csv"
    with pytest.raises(UsageError) as bad:
        decide_format(None, "xml", False)
    assert bad.value.message.startswith("XIOT_OUTPUT: unknown output format 'xml'")
    with pytest.raises(UsageError) as monitoring:
        decide_format("nagios", None, False)
    assert "only available for 'xiot probe'" in monitoring.value.message
    assert decide_format("nagios", None, False, ("table", "nagios")) == "nagios"


def test_ndjson_streams_each_record_as_it_arrives():
    out = io.StringIO()
    sink = open_sink("ndjson", stream=out)
    sink.emit(ROWS[0])
    assert json.loads(out.getvalue()) == ROWS[0]  # written before close
    sink.emit(ROWS[1])
    sink.close()
    assert [json.loads(x) for x in out.getvalue().splitlines()] == ROWS


def test_json_is_one_document_and_single_unwraps():
    out = io.StringIO()
    render(ROWS, "json", stream=out)
    assert json.loads(out.getvalue()) == ROWS
    out = io.StringIO()
    render(ROWS[:1], "json", stream=out, single=True)
    assert json.loads(out.getvalue()) == ROWS[0]


def test_json_handles_datetimes_sets_and_nan():
    out = io.StringIO()
    when = dt.datetime(2026, 1, 2, 3, 4, 5, tzinfo=dt.UTC)
    render([{"t": when, "tags": frozenset({"b", "a"}), "v": float("nan")}], "ndjson", stream=out)
    assert json.loads(out.getvalue()) == {"t": "2026-01-02T03:04:05+00:00",
                                          "tags": ["a", "b"], "v": None}


def test_csv_header_from_columns_and_cells():
    out = io.StringIO()
    render(ROWS, "csv", stream=out, columns=["jid", "ok", "value"])
    assert out.getvalue().splitlines() == ["jid,ok,value", "a@x.test,yes,21.5", "b@x.test,no,"]


def test_table_shows_every_value_and_no_colour_when_asked():
    out = io.StringIO()
    render(ROWS, "table", stream=out, no_color=True, title="t",
           styles={"ok": {"yes": "green"}})
    text = out.getvalue()
    for needle in ("jid", "a@x.test", "b@x.test", "21.5", "yes", "no"):
        assert needle in text
    assert "\x1b[" not in text


def test_table_escapes_markup_in_values():
    out = io.StringIO()
    render([{"name": "[bold]x[/bold]"}], "table", stream=out, no_color=True)
    assert "[bold]x[/bold]" in out.getvalue()


def test_empty_table_says_so_on_stderr(capsys):
    out = io.StringIO()
    render([], "table", stream=out, no_color=True)
    assert out.getvalue() == ""
    assert "nothing to show" in capsys.readouterr().err


def test_empty_csv_still_has_its_header():
    out = io.StringIO()
    render([], "csv", stream=out, columns=["jid", "value"])
    assert out.getvalue() == "jid,value\n"


def test_tables_escape_controls_and_bidi_overrides_json_keeps_them():
    hostile = {"jid": "dev\u202eevil@x.test", "value": "\x1b[2J21.5\r", "ok": True}
    out = io.StringIO()
    render([hostile], "table", stream=out, no_color=True)
    table = out.getvalue()
    assert "\x1b" not in table and "\u202e" not in table and "\r" not in table
    assert "\\u202e" in table and "\\x1b[2J21.5\\x0d" in table
    out = io.StringIO()
    render([hostile], "ndjson", stream=out)
    assert json.loads(out.getvalue())["jid"] == "dev\u202eevil@x.test"


def test_one_json_rule_for_nan_bytes_and_decimals():
    import decimal

    from xiot.output import jsonable, to_json
    from xiot.xmpp.values import json_value

    value = {"nan": float("nan"), "inf": float("-inf"), "raw": b"\x00\xff",
             "d": decimal.Decimal("1.5"), "s": {"b", "a"}, "t": (1, 2)}
    expected = {"nan": None, "inf": None, "raw": "00ff", "d": 1.5, "s": ["a", "b"], "t": [1, 2]}
    assert jsonable(value) == expected
    assert json.loads(to_json(value)) == expected
    assert json_value(float("nan")) is None and json_value(decimal.Decimal("2")) == 2.0
