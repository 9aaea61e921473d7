"""``xiot sim run --processes N``: the parent side (split, spawn, forward, stop).

Kept out of ``commands/sim.py`` so that command stays the single-process simulator; the
library part (splitting, children, termination) is ``xiot.sim.processes``.
"""

from __future__ import annotations

import json
import sys
from typing import Any

import typer

from xiot.commands import common


def child_argv(ctx: typer.Context, lab: str | None, options: Any, duration: float | None,
               parts: int) -> list[str]:
    """The argv of one child: the root options that reach the server, then ``sim run``."""
    root = common.options(ctx)
    argv = [sys.executable, "-m", "xiot"]
    if lab is not None:
        argv += ["--profile", lab]
    else:
        for flag, value in (("--profile", root.profile), ("--config", root.config),
                            ("--server", root.server), ("--tls", root.tls),
                            ("--ca", root.ca), ("--timeout", root.timeout)):
            if value is not None:
                argv += [flag, str(value)]
        if root.insecure:
            argv.append("--insecure")
    argv += ["sim", "run", "--accounts", "-", "-o", "ndjson",
             "--error-rate", str(options.error_rate),
             "--login-concurrency", str(options.login_concurrency),
             # each child flaps its share; together they flap as often as asked
             "--churn", str(options.churn * parts)]
    if options.seed is not None:
        argv += ["--seed", str(options.seed)]
    if getattr(options, "publish", None):
        argv += ["--publish", options.publish, "--publish-interval",
                 str(options.publish_interval)]
        if options.publish_service:
            argv += ["--publish-service", options.publish_service]
    if duration is not None:
        argv += ["--duration", str(duration)]
    return argv


def run_processes(ctx: typer.Context, lab: str | None, accounts: list, options: Any,
                  duration: float | None, processes: int) -> None:
    from xiot.sim.processes import ChildLine, accounts_csv, run_children, split

    shares = split(accounts, processes)
    parts = len(shares)
    argv = child_argv(ctx, lab, options, duration, parts)
    inputs, offset = [], 0
    for share in shares:
        inputs.append(accounts_csv(share, options.kinds, offset))
        offset += len(share)
    streaming = common.output_format(ctx) != "table"
    out = common.sink(ctx, columns=("time", "jid", "event", "detail")) if streaming else None
    rt = common.runtime(ctx)

    def on_line(line: ChildLine) -> None:
        if line.stream == "out":
            if out is not None:
                out.emit(json.loads(line.text))
            return
        text = line.text.removeprefix("xiot: sim: ").removeprefix("xiot: ")
        rt.env.say(f"sim[{line.part}/{parts}]: {text}")

    async def main() -> list[int]:
        import asyncio
        import signal

        stop = asyncio.Event()
        asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, stop.set)
        rt.env.say(f"sim: {len(accounts)} devices in {parts} processes")
        return await run_children([argv] * parts, inputs, on_line, stop)

    try:
        codes = rt.run(main)
    finally:
        if out is not None:
            out.close()
    failed = [c for c in codes if c not in (0, 130, -15, 143)]
    if failed:
        raise typer.Exit(1)
