"""``xiot presence`` end to end: usage errors, and the live view a person sees on a terminal."""

from __future__ import annotations

import asyncio

import pytest

from tests.helpers import lab_settings, xiot, xiot_command, xiot_here
from tests.terminal import Terminal
from xiot.xmpp.session import Session


@pytest.mark.parametrize(("args", "says"), [
    (["snapshot", "--shard", "3/2"], "--shard 3/2: K must be between 1 and N"),
    (["watch", "--shard", "half"], "is not K/N"),
    (["snapshot", "--source", "server", "--group", "devices"], "--group needs the roster"),
    (["snapshot", "--source", "everything"], "--source everything"),
    (["snapshot", "--expect-online", "/nonexistent/list"], "cannot read /nonexistent/list"),
    (["set", "asleep"], "cannot set presence 'asleep'"),
    (["set", "away", "--priority", "300"], "--priority 300 is out of range"),
])
def test_bad_input_is_exit_2_before_connecting(args, says):
    result = xiot_here("--jid", "nobody@example.invalid", "presence", *args)
    line = result.assert_clean_error(2)
    assert says in line


def test_expect_online_with_a_bad_jid_is_exit_2(lab_env):
    result = xiot("presence", "snapshot", "--expect-online", "-", env=lab_env,
                  stdin="dev0001@xiot.test\nnot a jid@@\n")
    assert "not a jid@@" in result.assert_clean_error(2)


def _flap(lab_accounts: dict, user: str, times: int) -> None:
    """Log a device in and out ``times`` times: 2 x times changes, enough to flap."""
    account = lab_accounts[user]

    async def main() -> None:
        settings = lab_settings("testlab").with_jid(f"{account.jid}/flap")
        for _ in range(times):
            async with Session(settings, password=account.password, send_presence=True):
                await asyncio.sleep(0.3)
            await asyncio.sleep(0.3)

    asyncio.run(main())


def test_watch_on_a_terminal_redraws_counts_and_recent_changes(fleet, lab_env, lab_accounts):
    argv = [xiot_command(), "--no-color", "presence", "watch"]
    with Terminal(argv, lab_env) as term:
        screen = term.wait_for("waiting for changes")
        assert "online 30/50:" in screen and "available 30" in screen
        assert "unavailable 20" in screen
        _flap(lab_accounts, "dev0044", 2)
        screen = term.wait_for("FLAPPING")
        lines = [line for line in screen.splitlines() if "dev0044@xiot.test" in line]
        assert len(lines) == 4, screen
        # newest first: the last change (back offline) is the top row
        assert "available → unavailable" in lines[0] and "unavailable → available" in lines[1]
        assert screen.count("presence watch") == 1  # one view, redrawn in place
        assert "4 changes" in screen and "1 flapping" in screen
        term.keys("C-c")
        screen = term.wait_for("EXIT=")
    assert "EXIT=130" in screen
    assert "watched " in screen and "4 changes; now 30 available, 20 unavailable" in screen
    assert "flapping: dev0044@xiot.test" in screen and "xiot: interrupted" in screen
