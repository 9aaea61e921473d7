"""``xiot demo``: the tour for a newcomer, on a private lab it starts and stops."""

from __future__ import annotations

import sys

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

    out = common.sink(ctx, columns=("step", "name", "ok", "detail", "elapsed_ms"),
                      styles={"ok": {"yes": "green", "no": "red"}})
    failed = common.runtime(ctx).run(lambda: _tour(run_demo(devices=devices, keep=keep), out))
    if failed:
        raise typer.Exit(1)


async def _tour(steps, out) -> int:  # type: ignore[no-untyped-def]
    failed = 0
    try:
        async for step in steps:
            mark = "ok" if step.ok else "FAILED"
            print(f"xiot: [{step.step}] {step.name}: {mark} - {step.detail}", file=sys.stderr)
            failed += not step.ok
            out.emit(step.to_record())
    finally:
        out.close()
    return failed
