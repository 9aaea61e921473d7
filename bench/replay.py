"""Replay: the runner's per-step overhead against a bare slixmpp client, and the suite's wall
time with one job against four.

Budget (issue 19): a send/expect step costs at most 1.3x what a bare slixmpp script pays for
the same send and receive.

1. Per step: one connection each, in this process, on the same loop, in alternating order.
   The runner plays a scenario of ROUNDS pings to the server (a send and an expect each);
   the bare client sends the same stanzas with ``send_raw`` and waits for each reply with a
   slixmpp handler.  Only the round trips are timed (log-in excluded); medians of --runs.
2. Suite: ``xiot replay run scenarios/ --jobs 1`` and ``--jobs 4`` as whole processes.

    python bench/replay.py [--rounds 200] [--runs 9]

A private lab (loopback only) and simulator are started and torn down.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import subprocess
import sys
import time
from dataclasses import replace
from pathlib import Path

from _lab import as_installed, lab_with_sim, xiot_executable

ROOT = Path(__file__).resolve().parents[1]
BUDGET = 1.3


def ping_scenario(rounds: int):  # type: ignore[no-untyped-def]
    from xiot.replay.model import load_text

    steps = ["  - connect: admin"]
    for number in range(rounds):
        steps += [f"  - send: admin\n    xml: <iq type='get' id='b{number}' "
                  "to='${admin.domain}'><ping xmlns='urn:xmpp:ping'/></iq>",
                  f"  - expect: admin\n    xml: <iq type='result' id='b{number}'/>"]
    return load_text("name: bench\nactors:\n  admin:\nsteps:\n" + "\n".join(steps) + "\n",
                     "bench.yaml")


async def runner_seconds(settings, password: str, rounds: int) -> float:  # type: ignore[no-untyped-def]
    from xiot.replay.runner import Account, RunOptions, run_scenario

    result = await run_scenario(ping_scenario(rounds),
                                lambda s, a: Account(settings, password),
                                RunOptions(step_timeout=10))
    if result.status != "ok":
        raise SystemExit(f"runner failed: {result.failed}")
    return sum(s.elapsed_ms for s in result.steps if s.kind != "connect") / 1000


async def bare_seconds(settings, password: str, rounds: int) -> float:  # type: ignore[no-untyped-def]
    """The same round trips with slixmpp alone: send_raw, a handler, a future per reply."""
    import ssl

    import slixmpp
    from slixmpp.xmlstream.handler import Callback
    from slixmpp.xmlstream.matcher import MatchXPath

    context = ssl.create_default_context(cafile=str(settings.ca))
    client = slixmpp.ClientXMPP(f"{settings.jid}/bare", password, ssl_context=context)
    client.enable_direct_tls = False
    ready = asyncio.get_running_loop().create_future()
    client.add_event_handler("session_start", lambda _: ready.set_result(None))
    waiting: dict[str, asyncio.Future[None]] = {}

    def on_result(iq) -> None:  # type: ignore[no-untyped-def]
        future = waiting.pop(iq["id"], None)
        if future is not None and not future.done():
            future.set_result(None)

    client.register_handler(Callback("bare", MatchXPath("{jabber:client}iq"), on_result))
    client.connect(settings.host, settings.port)
    await asyncio.wait_for(ready, 30)
    domain = settings.jid.split("@", 1)[1]
    started = time.perf_counter()
    for number in range(rounds):
        key = f"b{number}"
        future = asyncio.get_running_loop().create_future()
        waiting[key] = future
        client.send_raw(f"<iq type='get' id='{key}' to='{domain}'>"
                        "<ping xmlns='urn:xmpp:ping'/></iq>")
        await asyncio.wait_for(future, 10)
    elapsed = time.perf_counter() - started
    await client.disconnect(wait=1.0)
    filters = getattr(client, "_run_out_filters", None)
    if filters is not None and not filters.done():
        filters.cancel()  # else slixmpp leaves its filter task pending at exit
    return elapsed


def suite_seconds(env: dict[str, str], profile: str, jobs: int) -> float:
    started = time.perf_counter()
    done = subprocess.run([xiot_executable(), "--profile", profile, "replay", "run",
                           str(ROOT / "scenarios"), "--jobs", str(jobs), "-o", "json"],
                          env=env, capture_output=True, text=True, timeout=300, check=False)
    elapsed = time.perf_counter() - started
    if done.returncode != 0:
        raise SystemExit(f"scenarios failed (exit {done.returncode}):\n{done.stdout}\n"
                         f"{done.stderr}")
    assert all(r["status"] == "ok" for r in json.loads(done.stdout))
    return elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=200)
    parser.add_argument("--runs", type=int, default=9)
    args = parser.parse_args()
    as_installed()
    from xiot.config import GlobalOptions, resolve

    # The default mix of kinds, as 'xiot sim run' and CI use: scenarios/ reads a thermometer
    # (dev0001) and switches a relay (dev0003).
    with lab_with_sim("bench-replay", devices=50,
                      kinds="thermometer,meter,relay,dimmer,concentrator") as run:
        settings = replace(resolve(GlobalOptions(profile="bench-replay")))
        password = run.admin_password
        runner, bare = [], []

        async def measure() -> None:
            for index in range(args.runs):
                order = (runner_seconds, bare_seconds) if index % 2 else (bare_seconds,
                                                                          runner_seconds)
                for work in order:
                    seconds = await work(settings, password, args.rounds)
                    (runner if work is runner_seconds else bare).append(seconds)

        asyncio.run(measure())
        per_runner = statistics.median(runner) / args.rounds * 1e6
        per_bare = statistics.median(bare) / args.rounds * 1e6
        ratio = per_runner / per_bare
        print(f"per send+expect step pair: runner {per_runner:.0f} us, bare slixmpp "
              f"{per_bare:.0f} us, ratio {ratio:.2f} (budget {BUDGET}; {args.rounds} pings, "
              f"median of {args.runs})")
        one = suite_seconds(run.env, "bench-replay", 1)
        four = suite_seconds(run.env, "bench-replay", 4)
        print(f"scenarios/ suite: --jobs 1 {one:.2f} s, --jobs 4 {four:.2f} s (whole process)")
    sys.exit(0 if ratio <= BUDGET else 1)


if __name__ == "__main__":
    main()
