"""``xiot sim``: simulated devices that behave like a real fleet, on the lab or any server."""

from __future__ import annotations

import sys
from pathlib import Path

import typer

from xiot.commands import common, options

DEFAULT_KINDS = ("thermometer", "meter", "relay", "dimmer", "concentrator")

app = common.typer_app(
    help="Run simulated devices (XEP-0323/0325/0326) on the lab or any server.",
    no_args_is_help=True,
    epilog="""\b
Examples:
  xiot lab up -n 100 && xiot sim run                  all lab devices, mixed kinds
  xiot sim run --devices 20 --kinds thermometer,relay --seed 7
  xiot sim run --churn 2 --error-rate 0.05            flapping presence, some faults
  xiot --server xmpp.test:5222 --ca ca.pem sim run --accounts devices.csv
  xiot sim run -o ndjson | jq 'select(.event=="control")'""",
)


@app.callback()
def sim() -> None:
    """Run simulated devices (XEP-0323/0325/0326) on the lab or any server."""


@app.command("run", epilog="""\b
Examples:
  xiot lab up -n 100 && xiot sim run                  every lab device, mixed kinds
  xiot sim run --devices 20 --kinds thermometer,relay --seed 7 --duration 60
  xiot sim run --churn 2 --error-rate 0.05 -o ndjson | jq 'select(.event=="offline")'
  xiot lab up -n 10000 && xiot sim run --processes 10   ten processes of 1,000
  xiot sim run --publish 'sensors/{user}' --publish-interval 5   readings as PubSub items
  xiot sim run --publish readings        every device to one shared node

\b
Kinds are assigned in turn from --kinds (or from a 'kind' column in --accounts).
Each device logs in as its own account with resource 'sim', answers readouts with
plausible changing values, obeys control (the next readout shows the change), and
concentrators expose nodes Sensor1-3 and Relay1-2.  Runs until Ctrl-C or --duration;
events (online, offline, control, readout-error) stream on stdout when it is not a
terminal.  With --processes N the accounts are split into N contiguous shares, each run
by its own 'xiot sim run' child (given its accounts on stdin); kinds and the fleet-wide
--churn rate are kept, and Ctrl-C or SIGTERM stops every child.""")
def run(
    ctx: typer.Context,
    lab: str = typer.Option("lab", "--lab", help="Lab whose device accounts to use."),
    accounts: Path | None = typer.Option(None, "--accounts", help="CSV of jid,password"
                                         "[,kind] instead of a lab ('-' for stdin).",
                                         dir_okay=False),
    devices: int | None = typer.Option(None, "--devices", "-n", min=1, help="Run only the "
                                       "first N accounts [default: all]."),
    kinds: str | None = options.comma_list(
        "--kinds", metavar="KIND,...", help="Device kinds to assign in turn [default: "
        "thermometer,meter,relay,dimmer,concentrator]."),
    seed: int | None = typer.Option(None, "--seed", help="Seed for reproducible values."),
    churn: float = typer.Option(0.0, "--churn", min=0.0, help="Mean seconds between "
                                "presence flaps across the fleet (0: none)."),
    error_rate: float = typer.Option(0.0, "--error-rate", min=0.0, max=1.0,
                                     help="Share of readouts answered with a device error."),
    duration: float | None = typer.Option(None, "--duration", min=0.1, help="Stop after "
                                          "this many seconds."),
    concurrency: int = typer.Option(50, "--login-concurrency", min=1, max=1000,
                                    help="Logins in flight at once."),
    processes: int = typer.Option(1, "--processes", min=1, max=64, metavar="N",
                                  help="Spread the fleet over N simulator processes (one "
                                  "holds about 1,000 devices)."),
    publish: str | None = typer.Option(
        None, "--publish", metavar="NODE", show_default=False,
        help="Also publish each device's readings as PubSub items to NODE; '{user}' or "
        "'{jid}' in it gives every device a node of its own (created on first use)."),
    publish_interval: float = typer.Option(10.0, "--publish-interval", min=0.1,
                                           metavar="SECONDS",
                                           help="With --publish: seconds between items."),
    publish_service: str | None = typer.Option(
        None, "--publish-service", metavar="JID", envvar="XIOT_PUBSUB_SERVICE",
        show_default=False, show_envvar=False,
        help="With --publish: the PubSub service [default: the one your server lists]."),
) -> None:
    """Connect simulated devices and keep them running until Ctrl-C."""
    from xiot.sim.fleet import FleetOptions

    fleet_options = FleetOptions(kinds=kinds or DEFAULT_KINDS, seed=seed, churn=churn,
                                 error_rate=error_rate, login_concurrency=concurrency)
    cfg, sim_accounts = _accounts(ctx, lab, accounts)
    if devices is not None:
        if devices > len(sim_accounts):
            print(f"xiot: warning: only {len(sim_accounts)} device accounts available, "
                  f"running {len(sim_accounts)} (not {devices})", file=sys.stderr)
        sim_accounts = sim_accounts[:devices]
    if publish is not None:
        from dataclasses import replace

        fleet_options = replace(fleet_options, publish=publish,
                                publish_interval=publish_interval,
                                publish_service=publish_service)
    if processes > 1 and len(sim_accounts) > 1:
        from xiot.commands.sim_processes import run_processes

        run_processes(ctx, lab if accounts is None else None, sim_accounts, fleet_options,
                      duration, processes)
        return
    common.runtime(ctx).run(lambda: _run(ctx, cfg, sim_accounts, fleet_options, duration))


def _accounts(ctx, lab, accounts):  # type: ignore[no-untyped-def]
    from xiot.runtime import settings_for
    from xiot.sim.fleet import SimAccount, read_accounts_csv

    if accounts is not None:
        return common.settings(ctx), read_accounts_csv(accounts)
    from dataclasses import replace

    from xiot.lab import manager

    running = manager.require(lab)
    opts = common.options(ctx)
    cfg = settings_for(replace(opts, profile=lab))
    devices = [SimAccount(a.jid, a.password) for a in manager.accounts(running)
               if a.role == "device"]
    return cfg, devices


async def _run(ctx, cfg, accounts, options, duration) -> None:  # type: ignore[no-untyped-def]
    import asyncio
    import contextlib
    import signal

    from xiot.sim.fleet import Fleet

    streaming = common.output_format(ctx) != "table"
    out = common.sink(ctx, columns=("time", "jid", "event", "detail")) if streaming else None
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    loop.add_signal_handler(signal.SIGTERM, stop.set)

    def on_event(event) -> None:  # type: ignore[no-untyped-def]
        if out is not None:
            out.emit(event.to_record())
        elif event.event not in ("online", "published") or event.detail == "churn":
            print(f"xiot: sim: {event.jid} {event.event} {event.detail}", file=sys.stderr)

    fleet = Fleet(cfg, accounts, options, on_event=on_event)
    print(f"xiot: sim: logging in {len(accounts)} devices...", file=sys.stderr)
    try:
        await fleet.start()
        print(f"xiot: sim: {len(fleet.online)} devices online, {len(fleet.failed)} failed; "
              "Ctrl-C stops them", file=sys.stderr, flush=True)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), duration)
    finally:
        await fleet.stop()
        if out is not None:
            out.close()
        print("xiot: sim: stopped", file=sys.stderr)
