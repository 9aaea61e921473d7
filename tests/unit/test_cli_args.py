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


def test_every_root_option_is_hoisted_without_a_hand_kept_list():
    """A root option added later is accepted after the command name too."""
    import typer

    from xiot.cli import app, root_option_names

    values, flags = root_option_names(typer.main.get_command(app))
    assert {"--profile", "--config", "--jid", "--server", "--tls", "--ca", "--timeout", "-o",
            "--output"} <= values
    assert {"--insecure", "--no-color", "-v", "--verbose", "--debug"} <= flags
    assert "--version" not in values | flags and "--help" not in values | flags
    for name in values:
        assert hoist_global_options(["ping", name, "x"]) == [name, "x", "ping"]
    for name in flags:
        assert hoist_global_options(["ping", name]) == [name, "ping"]


def test_attached_short_options_are_hoisted():
    assert hoist_global_options(["ping", "-ojson", "-vv"]) == ["-ojson", "-vv", "ping"]
    assert hoist_global_options(["ping", "-c", "3"]) == ["ping", "-c", "3"]
