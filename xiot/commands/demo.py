"""``xiot demo``: the tour for a newcomer, on a private lab it starts and stops."""

from __future__ import annotations

import typer

from xiot.commands import common

app = common.typer_app()


@app.command(epilog="""\b
Examples:
  xiot demo                 run the tour and tear everything down
  xiot demo --keep          leave the lab running afterwards (profile 'demo')
  xiot demo -o json | jq '.[] | select(.ok | not)'""")
def demo(
    ctx: typer.Context,
    keep: bool = typer.Option(False, "--keep", help="Leave the demo lab running."),
    devices: int = typer.Option(20, "--devices", min=3, max=2000,
                                help="Simulated devices (kinds in turn: thermometer, meter, "
                                "relay, dimmer, concentrator)."),
) -> None:
    """Start a lab, exercise it step by step, print each step, and tear it down."""
    from xiot.demo import run_demo

    rt = common.runtime(ctx)
    if common.output_format(ctx) == "table":
        failed = rt.run(lambda: _tour_on_terminal(ctx, run_demo(devices=devices, keep=keep)))
        _next_steps(ctx, keep)
    else:
        out = common.sink(ctx, columns=("step", "name", "ok", "detail", "elapsed_ms"))
        failed = rt.run(lambda: _tour_as_data(ctx, run_demo(devices=devices, keep=keep), out))
    if failed:
        raise typer.Exit(1)


async def _tour_on_terminal(ctx, steps) -> int:  # type: ignore[no-untyped-def]
    """Each step once, as a line, as it finishes; a few real readings where there are some."""
    env = common.runtime(ctx).env
    failed = 0
    async for step in steps:
        failed += not step.ok
        mark = "ok " if step.ok else "FAILED"
        env.stdout.write(f"[{step.step}] {mark} {step.name}: {step.detail} "
                         f"({step.elapsed_ms:.0f} ms)\n")
        env.stdout.flush()
        if step.samples:
            common.emit_all(ctx, step.samples, columns=("jid", "name", "value", "unit"))
    return failed


async def _tour_as_data(ctx, steps, out) -> int:  # type: ignore[no-untyped-def]
    """Records on stdout; the same progress as lines on stderr when a person watches it."""
    env = common.runtime(ctx).env
    failed = 0
    try:
        async for step in steps:
            failed += not step.ok
            if env.stderr_isatty:
                mark = "ok" if step.ok else "FAILED"
                env.say(f"[{step.step}] {step.name}: {mark} - {step.detail}")
            out.emit(step.to_record())
    finally:
        out.close()
    return failed


def _next_steps(ctx: typer.Context, keep: bool) -> None:
    """What to try next, against a lab the user keeps."""
    lines = [
        "",
        "Try it yourself:" if not keep else "The 'demo' lab is still running; try:",
        "  xiot lab up --devices 20                 a lab of your own (profile 'lab')",
        "  xiot sim run &                           simulated devices on it",
        "  xiot config use lab                      make it the default profile",
        "  xiot readout dev0001@xiot.test           read a thermometer",
        "  xiot control dev0003@xiot.test set Output=true",
        "  xiot ping -c 3                           round trips to the server",
        "  xiot lab down                            stop it when done",
    ]
    if keep:
        lines[2:5] = ["  xiot config use demo                     make it the default profile"]
        lines[-1] = "  xiot lab down --name demo                stop it when done"
    env = common.runtime(ctx).env
    env.stdout.write("\n".join(lines) + "\n")
