"""Root options are accepted after the command name too."""

from __future__ import annotations

import pytest

from xiot.cli import hoist_global_options


@pytest.mark.parametrize("given,expected", [
    (["ping", "-o", "json"], ["-o", "json", "ping"]),
    (["--profile", "lab", "ping", "-c", "3", "--timeout", "2"],
     ["--profile", "lab", "--timeout", "2", "ping", "-c", "3"]),
    (["lab", "up", "--devices", "5", "--no-color", "--output=csv"],
     ["--no-color", "--output=csv", "lab", "up", "--devices", "5"]),
    (["ping", "--", "-o"], ["ping", "--", "-o"]),
    (["--help"], ["--help"]),
    (["-o", "json"], ["-o", "json"]),
    (["--profile", "ping", "disco"], ["--profile", "ping", "disco"]),
])
def test_hoist(given, expected):
    assert hoist_global_options(given) == expected
