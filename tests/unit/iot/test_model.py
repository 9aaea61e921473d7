"""Value codecs, request validation and flat records."""

from __future__ import annotations

import json
from datetime import date, datetime, time

import pytest

from xiot.errors import UsageError
from xiot.iot.model import (
    FIELD_CATEGORIES,
    HISTORICAL_CATEGORIES,
    ControlParameter,
    ControlResult,
    Field,
    NodeRef,
    Reading,
    ReadoutRequest,
    decimals_of,
    format_value,
    parse_value,
)


@pytest.mark.parametrize(
    ("kind", "text", "expected"),
    [
        ("boolean", "true", True),
        ("boolean", "1", True),
        ("boolean", "0", False),
        ("int", "50000", 50000),
        ("long", "500000000000000", 500000000000000),
        ("double", "8.192", 8.192),
        ("date", "2013-05-01", date(2013, 5, 1)),
        ("time", "08:00:00", time(8, 0)),
        ("dateTime", "2013-04-02T08:00:00", datetime(2013, 4, 2, 8, 0)),
        ("duration", "PT3M30S", "PT3M30S"),
        ("color", "3399ff", "3399FF"),
        ("color", "3399FF80", "3399FF80"),
        ("timeSpan", "P1D", "P1D"),
    ],
)
def test_parse_value_types(kind: str, text: str, expected: object) -> None:
    assert parse_value(kind, text) == expected


@pytest.mark.parametrize(
    ("kind", "text"),
    [
        ("boolean", "yes"),
        ("int", "2147483648"),
        ("long", "1.5"),
        ("color", "3399F"),
        ("color", "3399FF8"),  # the schema's regex slip would accept 7 digits
        ("duration", "3 minutes"),
        ("duration", "P"),
        ("dateTime", "yesterday"),
        ("nonsense", "1"),
    ],
)
def test_parse_value_rejects(kind: str, text: str) -> None:
    with pytest.raises(ValueError):
        parse_value(kind, text)


def test_decimals_come_from_the_lexical_form() -> None:
    assert [decimals_of(t) for t in ("10", "10.0", "10.00", "1e3")] == [0, 1, 2, None]
    assert format_value("numeric", 10.0, 2) == "10.00"
    assert format_value("numeric", 23.4, 1) == "23.4"


def test_timezone_stays_undefined_when_absent() -> None:
    assert parse_value("dateTime", "2013-03-07T16:24:30").tzinfo is None
    assert parse_value("dateTime", "2013-03-07T16:24:30Z").utcoffset().total_seconds() == 0


def test_request_expands_shorthands_and_validates() -> None:
    assert ReadoutRequest(categories={"all"}).categories == frozenset(FIELD_CATEGORIES)
    assert ReadoutRequest(categories={"historical"}).categories == frozenset(HISTORICAL_CATEGORIES)
    with pytest.raises(UsageError, match="momentery"):
        ReadoutRequest(categories={"momentery"})
    with pytest.raises(UsageError, match="timestamp"):
        ReadoutRequest(from_="last tuesday")
    with pytest.raises(UsageError):
        ReadoutRequest(from_="2013-03-08T00:00:00", to="2013-03-07T00:00:00")
    request = ReadoutRequest(from_="2013-03-07T00:00:00", nodes=["Device01"])
    assert request.from_ == datetime(2013, 3, 7)
    assert request.nodes == (NodeRef("Device01"),)


def test_field_rejects_unknown_names() -> None:
    with pytest.raises(UsageError):
        Field("x", "float", 1.0)
    with pytest.raises(UsageError):
        Field("x", "numeric", 1.0, categories={"momentary", "sometimes"})
    with pytest.raises(UsageError):
        Field("x", "numeric", 1.0, flags={"dubious"})


def test_control_parameter_parsing() -> None:
    assert ControlParameter.parse("Output:boolean=1").value is True
    assert ControlParameter.parse("Row1=Temperature: 21.4 °C").value == "Temperature: 21.4 °C"
    with pytest.raises(UsageError):
        ControlParameter.parse("Output:float=1")
    with pytest.raises(UsageError):
        ControlParameter.parse("Output:int=high")
    with pytest.raises(UsageError):
        ControlParameter.parse("Output")


def test_records_are_flat_json_with_stable_keys() -> None:
    fields = (
        Field(
            "Temperature",
            "numeric",
            23.4,
            "Device01",
            datetime(2013, 3, 7, 16, 24, 30),
            unit="°C",
            decimals=1,
            categories={"momentary"},
        ),
        Field("Since", "date", date(2013, 1, 1), "Device01"),
    )
    reading = Reading("device@example.org/x", "ok", fields)
    records = [reading.to_record(), *reading.field_records()]
    for record in records:
        json.dumps(record)
        assert all(not isinstance(v, dict | list | tuple | set) for v in record.values())
    assert records[1]["raw"] == "23.4"
    assert records[1]["timestamp"] == "2013-03-07T16:24:30"
    assert records[2]["value"] == "2013-01-01"
    assert set(records[1]) == set(records[2])
    result = ControlResult("d@x/y", False, failed_parameters=("Output",))
    assert result.to_record()["failed_parameters"] == "Output"
    json.dumps(result.to_record())
