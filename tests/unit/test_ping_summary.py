"""ping(8)'s summary arithmetic."""

from __future__ import annotations

import pytest

from xiot.xmpp.ping import PingResult, PingSummary


def test_summary_has_loss_and_ping8_mdev():
    results = [PingResult("x", 1, "ok", 1.0), PingResult("x", 2, "ok", 2.0),
               PingResult("x", 3, "ok", 3.0), PingResult("x", 4, "timeout", None, "late")]
    summary = PingSummary.of("x", results)
    assert (summary.sent, summary.received, summary.loss_pct) == (4, 3, 25.0)
    assert (summary.min_ms, summary.avg_ms, summary.max_ms) == (1.0, 2.0, 3.0)
    assert summary.mdev_ms == pytest.approx((14 / 3 - 4) ** 0.5)
    assert summary.lines()[-1] == "rtt min/avg/max/mdev = 1.000/2.000/3.000/0.816 ms"


def test_nothing_received_has_no_rtt_line():
    summary = PingSummary.of("x", [PingResult("x", 1, "timeout", None, "late")])
    assert summary.lines() == ["--- x ping statistics ---", "1 sent, 0 received, 100% loss"]
    assert summary.to_record()["mdev_ms"] is None
