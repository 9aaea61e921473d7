"""Check records are flat, stable and JSON-safe; worst_status ranks statuses sensibly."""

from __future__ import annotations

import datetime as dt
import json

import pytest

from xiot.probes.report import RECORD_KEYS, Check, ProbeResult, worst_of


def test_record_has_stable_keys_and_flattened_details() -> None:
    check = Check(
        "example.org", "tls.expiry", "warn", 12.34567, "expires soon", "h[::1]:5222/starttls",
        {"not_after": dt.datetime(2030, 1, 1, tzinfo=dt.UTC), "nested": {"a": 1, "b": (1, 2)}},
    )
    record = check.to_record()
    assert tuple(record)[: len(RECORD_KEYS)] == RECORD_KEYS
    assert record["elapsed_ms"] == 12.346
    assert record["details.not_after"] == "2030-01-01T00:00:00+00:00"
    assert record["details.nested.a"] == 1
    assert record["details.nested.b"] == [1, 2]
    json.dumps(record)


def test_message_is_one_line_and_status_is_validated() -> None:
    assert Check("d", "x", "ok", None, "a\nb").message == "a b"
    with pytest.raises(ValueError):
        Check("d", "x", "error", None, "m")  # type: ignore[arg-type]
    assert Check("d", "x", "note", None, "m").status == "note"


def test_check_is_hashable_despite_details() -> None:
    assert hash(Check("d", "x", "ok", None, "m", details={"k": [1]}))


def test_worst_status() -> None:
    assert worst_of([]) == "skip"
    assert worst_of(["skip", "ok"]) == "ok"
    assert worst_of(["ok", "warn", "skip"]) == "warn"
    result = ProbeResult("d", (Check("d", "a", "ok", 1.0, "m"), Check("d", "b", "fail", None, "m")))
    assert result.worst_status == "fail"
    assert result.failed
    assert result.counts() == {"skip": 0, "ok": 1, "note": 0, "warn": 0, "fail": 1}
    assert worst_of(["ok", "note", "skip"]) == "note"  # a summary can say advice exists
    assert worst_of(["note", "warn"]) == "warn"
