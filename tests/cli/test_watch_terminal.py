"""--watch on a terminal: one view redrawn in place, not a new table per round."""

from __future__ import annotations

from tests.helpers import xiot_command
from tests.terminal import Terminal


def test_readout_watch_redraws_one_view_in_place(fleet, lab_env):
    argv = [xiot_command(), "--no-color", "readout", "dev0001@xiot.test", "dev0003@xiot.test",
            "--watch", "0.5", "--rounds", "3"]
    with Terminal(argv, lab_env) as term:
        screen = term.wait_for("EXIT=")
    assert "EXIT=0" in screen
    assert screen.count("┃ jid") == 1, screen  # one table on the screen, redrawn
    assert "round 3 at " in screen and "round 1 at" not in screen
    assert "changed" in screen or "no change" in screen
    lines = [line for line in screen.splitlines() if "@xiot.test" in line]
    assert lines == sorted(lines, key=lambda line: line.split("│")[1])  # stable device order
