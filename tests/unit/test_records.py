"""The one reader for input files: plain lines, CSV, NDJSON; every error names file:line."""

from __future__ import annotations

import io

import pytest

from xiot.errors import UsageError
from xiot.records import Record, read_records


def write(tmp_path, name: str, data: str | bytes):
    path = tmp_path / name
    path.write_bytes(data.encode("utf-8") if isinstance(data, str) else data)
    return str(path)


def values(records: list[Record]) -> list[tuple[int, str]]:
    return [(r.line, r.value) for r in records]


def error_of(source: str, column: str = "jid") -> str:
    with pytest.raises(UsageError) as info:
        read_records(source, column)
    assert info.value.exit_code == 2
    return info.value.message


def test_plain_lines_keep_their_real_line_numbers(tmp_path):
    path = write(tmp_path, "devices.txt", "# fleet\n\ndev1@x.test\n  dev2@x.test  \n#x\ndev3\n")
    assert values(read_records(path, "jid")) == [(3, "dev1@x.test"), (4, "dev2@x.test"),
                                                 (6, "dev3")]


def test_csv_with_a_byte_order_mark_and_crlf(tmp_path):
    data = "\ufeffJID,kind\r\ndev1@x.test,relay\r\n\r\ndev2@x.test,meter\r\n".encode()
    path = write(tmp_path, "fleet.csv", data)
    assert values(read_records(path, "jid")) == [(2, "dev1@x.test"), (4, "dev2@x.test")]


def test_plain_lines_with_a_byte_order_mark_and_crlf(tmp_path):
    path = write(tmp_path, "fleet.txt", "\ufeffdev1@x.test\r\ndev2@x.test\r\n".encode())
    assert values(read_records(path, "jid")) == [(1, "dev1@x.test"), (2, "dev2@x.test")]


def test_csv_row_with_the_wrong_column_count_names_its_line(tmp_path):
    path = write(tmp_path, "fleet.csv", "jid,kind\ndev1@x.test,relay\n\n# spare\ndev2@x.test\n")
    message = error_of(path)
    assert message.startswith(f"{path}:5: expected 2 columns")


def test_csv_quoted_cells_may_span_lines(tmp_path):
    path = write(tmp_path, "fleet.csv", 'jid,note\ndev1@x.test,"two\nlines"\ndev2@x.test,x\n')
    assert values(read_records(path, "jid")) == [(2, "dev1@x.test"), (4, "dev2@x.test")]


def test_csv_without_the_column_names_the_header_line(tmp_path):
    path = write(tmp_path, "fleet.csv", "# exported\nuser,kind\na,relay\n")
    assert error_of(path).startswith(f"{path}:2: CSV header without a 'jid' column")


def test_ndjson_with_a_bad_line_names_it(tmp_path):
    path = write(tmp_path, "rows.ndjson",
                 '{"jid": "dev1@x.test", "status": "ok"}\n\n{"jid": "dev2@x.test"\n')
    assert error_of(path).startswith(f"{path}:3: not a JSON object")


def test_ndjson_record_without_the_field_names_its_line(tmp_path):
    path = write(tmp_path, "rows.ndjson", '{"jid": "dev1@x.test"}\r\n{"name": "x"}\r\n')
    assert error_of(path).startswith(f"{path}:2: record without a 'jid' string")


def test_ndjson_values_in_order(tmp_path):
    path = write(tmp_path, "rows.ndjson", '\ufeff{"jid": "a@x.test"}\n{"jid": "b@x.test"}\n')
    assert values(read_records(path, "jid")) == [(1, "a@x.test"), (2, "b@x.test")]


def test_text_that_is_not_utf8_names_the_line(tmp_path):
    path = write(tmp_path, "fleet.txt", b"dev1@x.test\ndev\xff@x.test\n")
    assert error_of(path).startswith(f"{path}:2: not UTF-8")


def test_missing_file_is_a_usage_error(tmp_path):
    assert "cannot read" in error_of(str(tmp_path / "missing.txt"))


def test_stdin_is_read_as_utf8_with_a_byte_order_mark(monkeypatch):
    stdin = io.TextIOWrapper(io.BytesIO("\ufeffjid\r\ndev1@x.test\r\n".encode()))
    monkeypatch.setattr("sys.stdin", stdin)
    records = read_records("-", "jid")
    assert values(records) == [(2, "dev1@x.test")]  # a one-column CSV: "jid" is its header
    assert records[0].where == "stdin"


def test_a_record_turns_its_problem_into_a_located_error():
    error = Record("devices.txt", 7, "x").error("malformed JID 'x'", "hint")
    assert error.message == "devices.txt:7: malformed JID 'x'" and error.exit_code == 2
