"""Replay reports: text, TAP and JUnit from results (no network)."""

from __future__ import annotations

import xml.etree.ElementTree as ET

from xiot.replay import report
from xiot.replay.runner import ScenarioResult, StepOutcome

FAILED = StepOutcome(1, "expect", "bob", "s.yaml", 12, "fail", 2000.0,
                     "no matching stanza within 2s", "-<iq/>\n+<iq type='error'/>",
                     ("<presence/>",))
RESULTS = [
    ScenarioResult("good", "a.yaml", "ok", 120.0,
                   (StepOutcome(0, "connect", "bob", "a.yaml", 5, "ok", 100.0),)),
    ScenarioResult("bad", "s.yaml", "fail", 2100.0,
                   (StepOutcome(0, "connect", "bob", "s.yaml", 5, "ok", 90.0), FAILED)),
    ScenarioResult("later", "c.yaml", "skip", 0.0, (), "server lacks urn:x"),
]


def test_text_shows_failure_with_place_diff_and_arrivals():
    text = report.text(RESULTS)
    assert "PASS  good  (a.yaml, 0.12s)" in text
    assert "SKIP  later  (c.yaml, 0.00s)  server lacks urn:x" in text
    assert "step 2 expect (bob) at s.yaml:12:" in text
    assert "+<iq type='error'/>" in text
    assert "also arrived (1):" in text
    assert text.endswith("3 scenarios: 1 passed, 1 failed, 1 skipped\n")


def test_tap():
    lines = report.tap(RESULTS).splitlines()
    assert lines[:4] == ["TAP version 13", "1..3", "ok 1 - good (a.yaml)",
                         "not ok 2 - bad (s.yaml)"]
    assert "  at: s.yaml:12" in lines
    assert lines[-1] == "ok 3 - later (c.yaml) # SKIP server lacks urn:x"


def test_junit():
    root = ET.fromstring(report.junit(RESULTS).split("\n", 1)[1])
    suite = root.find("testsuite")
    assert (suite.get("tests"), suite.get("failures"), suite.get("skipped")) == ("3", "1", "1")
    cases = suite.findall("testcase")
    failure = cases[1].find("failure")
    assert failure.get("message") == "s.yaml:12: no matching stanza within 2s"
    assert "+<iq type='error'/>" in failure.text
    assert cases[2].find("skipped").get("message") == "server lacks urn:x"
