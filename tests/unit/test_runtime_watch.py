"""Runtime.watch: rounds counted, any failed round counted, a lent session never reopened."""

from __future__ import annotations

import asyncio
import io

from xiot.runtime import Environment, Runtime


class LentSession:
    """Stands in for the shell's live session: watch must use it as it is."""

    settings = None


def _runtime() -> Runtime:
    env = Environment(stdin=io.StringIO(), stdout=io.StringIO(), stderr=io.StringIO(),
                      stdout_isatty=False, stderr_isatty=False, stdin_isatty=False)
    return Runtime(env=env, lent_session=LentSession())  # type: ignore[arg-type]


def test_a_failed_early_round_still_fails_the_watch():
    outcomes = iter([True, False, False])
    seen = []

    async def one_round(session, number):  # type: ignore[no-untyped-def]
        seen.append((session, number))
        return next(outcomes)

    runtime = _runtime()
    failed = asyncio.run(runtime.watch(one_round, 0.01, 3))
    assert failed == 1  # the last round passed; the first did not
    assert [n for _, n in seen] == [1, 2, 3]
    assert all(session is runtime.lent_session for session, _ in seen)


def test_without_watch_one_round_runs():
    async def one_round(session, number):  # type: ignore[no-untyped-def]
        return False

    assert asyncio.run(_runtime().watch(one_round, None, None)) == 0
