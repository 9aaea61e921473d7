"""The runtime lends a live Session to commands, as the shell and replay will.

A command is run in process, from inside a running event loop (the loop that owns the
Session), through ``xiot.cli.run`` with a lent runtime: the same typer command the CLI runs,
with no second connection and no ``asyncio.run`` inside a running loop.
"""

from __future__ import annotations

import asyncio
import io
import json

from tests.conftest import LAB_NAME
from tests.helpers import lab_settings
from xiot.cli import run as run_cli
from xiot.presence.resolve import PresenceTracker
from xiot.runtime import Environment, Runtime
from xiot.xmpp.session import Session


def _environment() -> Environment:
    return Environment(stdin=io.StringIO(), stdout=io.StringIO(), stderr=io.StringIO(),
                       stdout_isatty=False, stderr_isatty=False, stdin_isatty=False)


async def _command(runtime: Runtime, *argv: str) -> tuple[int, str, str]:
    """Run one command on a worker thread, the way the shell runs what the user typed."""
    env = _environment()
    lent = Runtime(env=env).lend(runtime.lent_session, runtime.loop)  # type: ignore[arg-type]
    code = await asyncio.to_thread(run_cli, list(argv), lent)
    return code, env.stdout.getvalue(), env.stderr.getvalue()  # type: ignore[attr-defined]


def test_a_command_runs_inside_a_running_loop_on_a_borrowed_session(lab, fleet):
    async def main():
        async with Session(lab_settings(LAB_NAME)) as session:
            runtime = Runtime(env=_environment()).lend(session, asyncio.get_running_loop())
            bound = str(session.client.boundjid)
            code, out, err = await _command(runtime, "readout", "dev0001@xiot.test", "-o",
                                            "json")
            still_open = session.xmpp is not None and str(session.client.boundjid) == bound
            return code, out, err, still_open

    code, out, err, still_open = asyncio.run(main())
    assert code == 0, err
    rows = json.loads(out)
    assert rows and {row["jid"] for row in rows} == {"dev0001@xiot.test/sim"}
    assert still_open  # the command borrowed the session; it did not close it


def test_two_commands_share_one_session_and_its_presence(lab, fleet):
    async def main():
        async with Session(lab_settings(LAB_NAME)) as session:
            runtime = Runtime(env=_environment()).lend(session, asyncio.get_running_loop())
            first = await _command(runtime, "readout", "dev0003@xiot.test", "-o", "ndjson")
            tracker = session.state(PresenceTracker)
            second = await _command(runtime, "control", "dev0003@xiot.test", "set",
                                    "Output=true", "-o", "json")
            third = await _command(runtime, "ping", "-o", "ndjson")
            same_tracker = session.state(PresenceTracker) is tracker
            return first, second, third, same_tracker

    first, second, third, same_tracker = asyncio.run(main())
    assert first[0] == 0, first[2]
    assert second[0] == 0, second[2]
    assert json.loads(second[1])["ok"] is True
    assert third[0] == 0 and json.loads(third[1])["status"] == "ok"
    # presence was announced once for the connection and reused by the second command
    assert same_tracker


def test_a_lent_command_reports_errors_on_the_lent_terminal(lab):
    async def main():
        async with Session(lab_settings(LAB_NAME)) as session:
            runtime = Runtime(env=_environment()).lend(session, asyncio.get_running_loop())
            return await _command(runtime, "readout", "not a jid")

    code, out, err = asyncio.run(main())
    assert code == 2 and out == ""
    assert err.startswith("xiot: malformed JID 'not a jid'")
