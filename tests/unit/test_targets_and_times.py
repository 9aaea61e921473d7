"""Device lists from arguments and files, times as operators type them, readout rows."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from xiot.commands.targets import collect_jids
from xiot.errors import UsageError
from xiot.iot.model import Field, Reading
from xiot.iot.readout import ROW_COLUMNS, reading_rows
from xiot.timespec import parse_when

NOW = datetime(2026, 11, 24, 12, 0, tzinfo=UTC)


def test_jids_from_arguments_and_file_without_duplicates(tmp_path):
    listing = tmp_path / "devices.txt"
    listing.write_text("# fleet\ndev1@x.test\n\ndev2@x.test\ndev1@x.test\n")
    jids = collect_jids(["dev3@x.test"], str(listing))
    assert [str(j) for j in jids] == ["dev3@x.test", "dev1@x.test", "dev2@x.test"]


def test_jids_from_a_csv_column(tmp_path):
    listing = tmp_path / "devices.csv"
    listing.write_text("user,jid\na,dev1@x.test\nb,dev2@x.test/sim\n")
    assert [str(j) for j in collect_jids([], str(listing))] == ["dev1@x.test",
                                                                "dev2@x.test/sim"]


def test_jids_are_compared_after_preparation(tmp_path):
    listing = tmp_path / "devices.txt"
    listing.write_text("Dev1@X.test\nxmpp:dev1@x.test\nＤＥＶ１@x.test\n")
    assert [str(j) for j in collect_jids(["dev1@x.test"], str(listing))] == ["dev1@x.test"]


def test_a_bad_jid_in_a_file_names_the_file_and_line(tmp_path):
    listing = tmp_path / "devices.txt"
    listing.write_text("# fleet\n" + "".join(f"dev{i}@x.test\n" for i in range(1, 6))
                       + "dev😀@x.test\ndev7@x.test\n")
    with pytest.raises(UsageError) as info:
        collect_jids([], str(listing))
    assert info.value.message.startswith(f"{listing}:7: malformed JID 'dev😀@x.test'")
    assert "U+1F600" in info.value.message and info.value.exit_code == 2


def test_a_bad_jid_in_ndjson_and_csv_names_the_line(tmp_path):
    rows = tmp_path / "rows.ndjson"
    rows.write_text('{"jid": "dev1@x.test"}\n{"jid": "a\\u202eb@x.test"}\n')
    with pytest.raises(UsageError) as info:
        collect_jids([], str(rows))
    assert info.value.message.startswith(f"{rows}:2: malformed JID")
    table = tmp_path / "fleet.csv"
    table.write_bytes("\ufeffjid,kind\r\ndev1@x.test,relay\r\n@x.test,relay\r\n".encode())
    with pytest.raises(UsageError) as info:
        collect_jids([], str(table))
    assert info.value.message.startswith(f"{table}:3: malformed JID")


def test_bad_lists_are_usage_errors(tmp_path):
    with pytest.raises(UsageError):
        collect_jids([], None)
    with pytest.raises(UsageError):
        collect_jids([], str(tmp_path / "missing.txt"))
    ragged = tmp_path / "r.csv"
    ragged.write_text("jid,kind\ndev1@x.test\n")
    with pytest.raises(UsageError) as info:
        collect_jids([], str(ragged))
    assert "r.csv:2" in info.value.message


BERLIN = ZoneInfo("Europe/Berlin")


@pytest.mark.parametrize("text,expected", [
    ("now", NOW),
    ("-24h", NOW - timedelta(hours=24)),
    ("-30m", NOW - timedelta(minutes=30)),
    ("-7d", NOW - timedelta(days=7)),
    ("2026-11-20T08:00:00Z", datetime(2026, 11, 20, 8, tzinfo=UTC)),
    ("2026-11-20T08:00+02:00", datetime(2026, 11, 20, 6, tzinfo=UTC)),
    # a zone name: that zone's rules on that date (winter +01:00, summer +02:00)
    ("2026-12-01T08:00 Europe/Berlin", datetime(2026, 12, 1, 7, tzinfo=UTC)),
    ("2026-07-01T08:00 Europe/Berlin", datetime(2026, 7, 1, 6, tzinfo=UTC)),
    ("2026-12-01T08:00[America/New_York]", datetime(2026, 12, 1, 13, tzinfo=UTC)),
    ("2026-12-01 08:00 UTC", datetime(2026, 12, 1, 8, tzinfo=UTC)),
    ("2026-07-01T08:00+02:00[Europe/Berlin]", datetime(2026, 7, 1, 6, tzinfo=UTC)),
    # no zone: the local time zone (here Berlin, passed in; by default the machine's)
    ("2026-11-20T08:00", datetime(2026, 11, 20, 7, tzinfo=UTC)),
    ("2026-11-20", datetime(2026, 11, 19, 23, tzinfo=UTC)),
])
def test_parse_when(text, expected):
    parsed = parse_when(text, "--from", NOW, local_zone=BERLIN)
    assert parsed == expected and parsed.utcoffset() == timedelta(0)


def test_a_time_without_a_zone_is_the_machines_local_time(monkeypatch):
    if not hasattr(time, "tzset"):
        pytest.skip("no tzset on this platform")
    monkeypatch.setenv("TZ", "Asia/Kolkata")  # +05:30 all year
    time.tzset()
    try:
        assert parse_when("2026-11-20T08:00", "--from", NOW) == datetime(
            2026, 11, 20, 2, 30, tzinfo=UTC)
    finally:
        monkeypatch.undo()
        time.tzset()


@pytest.mark.parametrize("text,needle", [
    ("yesterday", "malformed --from"),
    ("-24x", "malformed --from"),
    ("24h", "malformed --from"),
    ("2026-13-01", "malformed --from"),
    ("2026-12-01T08:00 Europe/Berlinn", "unknown time zone 'Europe/Berlinn' in --from"),
    ("2026-12-01T08:00[Mars/Olympus]", "unknown time zone"),
    ("2026-07-01T08:00+05:00 Europe/Berlin", "does not match"),
])
def test_parse_when_rejects(text, needle):
    with pytest.raises(UsageError) as info:
        parse_when(text, "--from", NOW)
    assert needle in info.value.message and info.value.exit_code == 2


def test_rows_have_stable_keys_and_name_failures():
    field = Field("Temperature", "numeric", 21.5, node="Device01", unit="°C",
                  timestamp=NOW, categories=frozenset({"momentary"}))
    partial = Reading("d@x.test/sim", "partial", (field,), (), ("Humidity",), 3.0)
    rows = reading_rows(partial)
    assert all(tuple(r) == ROW_COLUMNS for r in rows)
    assert rows[0]["value"] == 21.5 and rows[0]["error"] is None
    assert rows[1]["status"] == "partial" and rows[1]["error"] == "missing: Humidity"
    offline = Reading("e@x.test", "offline", (), ("e@x.test is offline",), (), 0.0)
    (row,) = reading_rows(offline)
    assert row["name"] is None and "offline" in row["error"]
