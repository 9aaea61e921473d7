"""Background jobs in the shell, without a network: the '&' marker, the lines a job's records
become, bounded queues, and jobs/kill/wait over a stand-in command."""

from __future__ import annotations

import asyncio
import io
import json
from types import SimpleNamespace

import pytest

from xiot.runtime import Environment, Runtime
from xiot.shell import jobs as jobs_module
from xiot.shell.engine import Shell, _Running
from xiot.shell.joblines import MAX_LINE, LineStream, explicit_format, record_line, shown_line
from xiot.shell.script import commands_of, split_line

# ---------------------------------------------------------------------- the '&' marker


def _parsed(text: str) -> list[tuple[list[str], bool]]:
    return [(list(command), command.background) for command in split_line(text)]


def test_a_trailing_ampersand_makes_a_background_job():
    assert _parsed("readout dev0001@xiot.test --watch 5 &") == [
        (["readout", "dev0001@xiot.test", "--watch", "5"], True)]
    assert _parsed("readout --watch 2&") == [(["readout", "--watch", "2"], True)]
    assert _parsed("readout a@b --watch 1 & ping") == [
        (["readout", "a@b", "--watch", "1"], True), (["ping"], False)]
    assert _parsed("readout a@b &; ping -c 2") == [
        (["readout", "a@b"], True), (["ping", "-c", "2"], False)]
    assert _parsed("xiot readout a@b &   # a comment") == [(["readout", "a@b"], True)]


def test_a_quoted_escaped_or_commented_ampersand_is_a_word():
    assert _parsed("pubsub publish n 'a & b'") == [(["pubsub", "publish", "n", "a & b"], False)]
    assert _parsed("control a@b set 'Text=&'") == [(["control", "a@b", "set", "Text=&"], False)]
    assert _parsed('control a@b set "Text=x &"') == [
        (["control", "a@b", "set", "Text=x &"], False)]
    assert _parsed("control a@b set Text=\\&") == [(["control", "a@b", "set", "Text=&"], False)]
    assert _parsed("ping # and then &") == [(["ping"], False)]
    assert _parsed("control a@b set 'x\n&' &") == [(["control", "a@b", "set", "x\n&"], True)]


def test_a_double_ampersand_or_a_lone_one_is_no_command():
    # The lone '&' is passed on as a command word, so the shell says "No such command '&'".
    assert _parsed("ping && disco") == [(["ping"], True), (["&"], False), (["disco"], False)]


def test_an_ampersand_in_raw_xml_belongs_to_the_xml():
    assert _parsed("raw <message to='a@b'><body>a &amp; b</body></message>") == [
        (["raw", "<message to='a@b'><body>a &amp; b</body></message>"], False)]
    assert _parsed("raw <message><body>x &</body></message>") == [
        (["raw", "<message><body>x &</body></message>"], False)]
    assert _parsed("raw <presence/> &") == [(["raw", "<presence/>"], True)]
    with pytest.raises(ValueError):  # unfinished: the '&' cannot end it
        split_line("raw <message><body>a &")


def test_an_open_quote_still_asks_for_more():
    with pytest.raises(ValueError):
        split_line("readout 'a & b")
    assert [list(c) for c in commands_of(["pubsub publish n 'a &\n", "b' &\n"])] == [
        ["pubsub", "publish", "n", "a &\nb"]]


def test_a_builtin_cannot_run_in_the_background():
    shell = _shell()
    code = asyncio.run(shell.execute(split_line("use a@b.org &")[0]))
    assert code == 2
    said = shell.env.stderr.getvalue()
    assert "'use' is a shell command: it cannot run in the background" in said
    assert shell.device is None

# ---------------------------------------------------------------------- records as lines


READING = {"jid": "dev0001@xiot.test/sim", "node": "Device01", "name": "Temperature",
           "value": 21.5, "unit": "°C", "timestamp": "2026-12-06T02:41:15Z", "status": "ok",
           "type": "numeric", "categories": "momentary", "flags": "automaticReadout",
           "raw": "21.5", "decimals": 1, "writable": None, "error": None}


def test_a_reading_is_one_readable_line():
    assert record_line(READING) == ("dev0001@xiot.test/sim Temperature=21.5 °C node=Device01 "
                                    "timestamp=2026-12-06T02:41:15Z")
    offline = {"jid": "dev4@x", "node": None, "name": None, "value": None,
               "status": "offline", "error": "dev4@x is offline"}
    assert record_line(offline) == 'dev4@x status=offline error="dev4@x is offline"'
    flag = dict(READING, name="Output", value=False, unit=None, status="partial")
    assert record_line(flag).startswith("dev0001@xiot.test/sim Output=false node=Device01 ")
    assert "status=partial" in record_line(flag)


def test_other_records_are_key_value_pairs_without_nulls():
    assert record_line({"target": "xiot.test", "seq": 1, "status": "ok", "rtt_ms": 6.5,
                        "error": None}) == "target=xiot.test seq=1 status=ok rtt_ms=6.5"
    assert record_line({"event": "item", "tags": ["a", "b"], "note": ""}) == (
        'event=item tags=["a","b"]')


def test_text_from_the_network_cannot_drive_the_terminal():
    line = record_line({"jid": "evil@x", "name": "T\x1b[2J", "value": "\u202eok"})
    assert "\x1b" not in line and "\u202e" not in line
    assert "\\x1b" in line and "\\u202e" in line
    assert "\x1b" not in shown_line("plain \x1b[31mred", readable=True)


def test_lines_are_shown_as_they_come_when_a_format_was_asked_for():
    row = json.dumps(READING)
    assert shown_line(row, readable=False) == row
    assert shown_line(row, readable=True).startswith("dev0001@xiot.test/sim Temperature=21.5")
    assert shown_line("not json {", readable=True) == "not json {"
    assert shown_line('{"broken": ', readable=True) == '{"broken": '


def test_an_explicit_format_is_recognised(monkeypatch):
    monkeypatch.delenv("XIOT_OUTPUT", raising=False)
    assert not explicit_format(["readout", "a@b", "--watch", "5"])
    for words in (["readout", "-o", "json"], ["readout", "--output=csv"], ["x", "-ondjson"],
                  ["x", "--output", "csv"]):
        assert explicit_format(words)
    assert explicit_format(["readout"], inherited=["-o", "json"])
    monkeypatch.setenv("XIOT_OUTPUT", "csv")
    assert explicit_format(["readout"])


def test_a_line_stream_passes_on_whole_lines_only():
    seen: list[str] = []
    stream = LineStream(seen.append)
    stream.write('{"a":')
    stream.write('1}\n{"b":2}\npartial')
    assert seen == ['{"a":1}', '{"b":2}']
    stream.finish()
    assert seen[-1] == "partial"
    stream.write("x" * (MAX_LINE + 1))  # no newline, ever: not held
    assert len(seen) == 4 and not stream.isatty()

# ---------------------------------------------------------------------- bounded queues


def _job(number: int = 1) -> jobs_module.Job:
    return jobs_module.Job(number, "readout a@b --watch 1", _Running(), readable=True)


def test_a_flood_of_output_is_bounded_and_says_what_it_left_out():
    shell = _shell()
    table = jobs_module.Jobs(shell)
    job = _job()
    table.table[job.id] = job
    for n in range(jobs_module.QUEUE + 500):
        table._queue(job, "out", json.dumps({"n": n}))
    assert len(job.pending) == jobs_module.QUEUE  # memory is bounded
    assert table.print_pending() is True  # a batch now, the rest on the next turns
    err = shell.env.stderr.getvalue()
    assert "[1] ... 500 lines left out: more output than the terminal can take" in err
    out = shell.env.stdout.getvalue().splitlines()
    assert len(out) == jobs_module.BATCH and out[0] == "[1] n=500"  # the newest are kept
    while table.print_pending():
        pass
    assert shell.env.stdout.getvalue().splitlines()[-1] == f"[1] n={jobs_module.QUEUE + 499}"
    assert job.printed == jobs_module.QUEUE + 1

# ---------------------------------------------------------------------- jobs, kill, wait


class _Session:
    lost = None
    settings = None

    async def close(self) -> None:
        pass


def _shell() -> Shell:
    env = Environment(stdin=io.StringIO(), stdout=io.StringIO(), stderr=io.StringIO(),
                      stdout_isatty=False, stderr_isatty=False, stdin_isatty=False)
    return Shell(None, env)  # type: ignore[arg-type]


def _fake_cli(argv: list[str], runtime: Runtime) -> int:
    """Stands in for ``cli.run``: ``rows N [fail CODE]`` writes N records; ``forever``
    waits on the loop until cancelled (then says "interrupted" and returns 130, as it)."""
    try:
        if argv[0] == "forever":
            runtime.run(lambda: asyncio.sleep(3600))
        for n in range(int(argv[1]) if argv[0] == "rows" else 0):
            runtime.env.stdout.write(json.dumps({"jid": "d@x", "name": "T", "value": n,
                                                 "unit": None}) + "\n")
        if "fail" in argv:
            runtime.env.say("d@x: the device said no")
            return int(argv[-1])
        return 0
    except KeyboardInterrupt:
        runtime.env.say("interrupted")
        return 130


async def _started(shell: Shell, *argvs: list[str]) -> list[jobs_module.Job]:
    shell.session = _Session()  # type: ignore[assignment]
    shell.loop = asyncio.get_running_loop()
    return [shell.jobs.start(argv, argv, _fake_cli) for argv in argvs]


def test_wait_returns_the_exit_code_of_a_job_and_its_lines_are_prefixed():
    shell = _shell()

    async def scenario() -> tuple[int, int, int]:
        await _started(shell, ["rows", "2"], ["rows", "1", "fail", "7"])
        return (await shell.execute(split_line("wait 1")[0]),
                await shell.execute(split_line("wait %2 --timeout 10")[0]),
                await shell.execute(split_line("wait")[0]))

    assert asyncio.run(scenario()) == (0, 7, 0)
    out, err = shell.env.stdout.getvalue(), shell.env.stderr.getvalue()
    assert out.splitlines() == ["[1] d@x T=0", "[1] d@x T=1", "[2] d@x T=0"]
    assert "[1] rows 2\n" in err and "[1] done (exit 0) rows 2" in err
    assert "[2] failed (exit 7) rows 1 fail 7: d@x: the device said no" in err


def test_kill_stops_a_job_and_jobs_lists_it():
    shell = _shell()

    async def scenario() -> list[int]:
        await _started(shell, ["forever"])
        await asyncio.sleep(0.05)
        codes = [await shell.execute(split_line("jobs")[0]),
                 await shell.execute(split_line("kill %1")[0]),
                 await shell.execute(split_line("kill 1")[0]),  # already ended
                 await shell.execute(split_line("kill 9")[0])]
        await shell.execute(split_line("jobs")[0])
        return codes

    assert asyncio.run(scenario()) == [0, 0, 1, 2]
    out, err = shell.env.stdout.getvalue(), shell.env.stderr.getvalue()
    listed = out.splitlines()
    assert listed[0].startswith("[1]  running") and listed[0].endswith("0 lines  forever")
    assert listed[1].startswith("[1]  stopped") and shell.jobs.table[1].code == 130
    assert "[1] stopped forever" in err
    assert "interrupted" not in err  # the stop is said once, as "stopped"
    assert "kill: job 1 had already ended (stopped)" in err and "no job 9" in err


def test_kill_stops_the_running_ones_among_several_and_says_which_had_ended():
    shell = _shell()

    async def scenario() -> int:
        await _started(shell, ["rows", "1"], ["forever"])
        await shell.execute(split_line("wait 1")[0])
        return await shell.execute(split_line("kill 1 2")[0])

    assert asyncio.run(scenario()) == 1
    assert shell.jobs.table[2].state == "stopped"
    assert "kill: job 1 had already ended (done)" in shell.env.stderr.getvalue()


def test_a_timed_out_wait_is_exit_6_and_closing_stops_what_runs():
    shell = _shell()

    async def scenario() -> int:
        await _started(shell, ["forever"], ["forever"])
        code = await shell.execute(split_line("wait --timeout 0.1")[0])
        await shell.close()
        return code

    assert asyncio.run(scenario()) == 6
    err = shell.env.stderr.getvalue()
    assert "wait: jobs 1, 2 still running after 0.1 s" in err
    assert "[1] stopped forever" in err and "[2] stopped forever" in err
    assert err.rstrip().endswith("xiot: stopped 2 background jobs")


def test_ctrl_c_in_the_foreground_leaves_background_jobs_alone():
    shell = _shell()

    async def scenario() -> bool:
        [job] = await _started(shell, ["forever"])
        await asyncio.sleep(0.05)
        shell.interrupt()  # what the prompt's SIGINT handler calls
        await asyncio.sleep(0.05)
        alive = job.code is None
        await shell.close()
        return alive

    assert asyncio.run(scenario())


def test_completion_offers_running_job_numbers_after_kill_and_wait():
    from xiot.shell.completion import ShellCompleter

    running = [SimpleNamespace(id=3, command="readout a@b --watch 1")]
    shell = SimpleNamespace(session=None, jobs=SimpleNamespace(running=lambda: running))
    completer = ShellCompleter(shell)  # type: ignore[arg-type]
    assert [t for t, _ in completer.candidates(["kill"], "")] == ["3"]
    assert [t for t, _ in completer.candidates(["kill"], "%")] == ["%3"]
    assert [t for t, _ in completer.candidates(["wait"], "")] == ["3", "--timeout"]
    assert {"jobs", "kill", "wait"} <= {t for t, _ in completer.candidates([], "")}

# ---------------------------------------------------------------------- a lost connection


def test_a_background_watch_goes_on_with_the_session_the_shell_reconnects():
    from xiot.xmpp.session import ConnectionLost

    first, second = _Session(), _Session()
    seen = []

    async def one_round(session, number):  # type: ignore[no-untyped-def]
        seen.append(session)
        if number == 2:
            raise ConnectionLost("connection lost: the server went away")
        return False

    async def relend():  # type: ignore[no-untyped-def]
        return second

    env = Environment(stdin=io.StringIO(), stdout=io.StringIO(), stderr=io.StringIO(),
                      stdout_isatty=False, stderr_isatty=False, stdin_isatty=False)
    runtime = Runtime(env=env, lent_session=first, relend=relend)  # type: ignore[arg-type]
    assert asyncio.run(runtime.watch(one_round, 0.01, 4)) == 1  # the lost round failed
    assert seen == [first, first, second, second]
    assert "going on once the shell has reconnected" in env.stderr.getvalue()

    plain = Runtime(env=env, lent_session=first)  # type: ignore[arg-type]
    with pytest.raises(ConnectionLost):  # a foreground watch: the shell reports it
        asyncio.run(plain.watch(one_round, 0.01, 4))
