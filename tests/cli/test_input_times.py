"""--from/--to as users type them: zones named, a zone-less time explained in --help."""

from __future__ import annotations

import os

from tests.helpers import xiot


def test_help_says_what_a_time_without_a_zone_means():
    result = xiot("readout", "--help", env=dict(os.environ, COLUMNS="200"))
    assert result.code == 0
    text = " ".join(result.stdout.split())
    assert "A time without a zone is this machine's local time" in text
    assert "Europe/Berlin" in text


def test_an_unknown_zone_is_a_usage_error():
    result = xiot("readout", "dev@x.test", "--types", "historical", "--from",
                  "2026-12-01T08:00 Europe/Berlinn")
    line = result.assert_clean_error(2)
    assert "unknown time zone 'Europe/Berlinn' in --from" in line
