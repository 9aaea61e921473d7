"""``xiot shell``: Tab completion latency over a large roster, and ten commands on one login.

1. Completion: a shell Session (the admin of a lab with N simulated devices, every device in
   its roster) is opened and announced, and the shell's completer is asked for JIDs, commands
   and options, as Tab does, ``--tabs`` times; p50/p99/max in ms.  Budget: p99 under 50 ms.
2. Ten commands (five pings, five readouts) through one ``xiot shell -c`` against ten
   separate ``xiot`` processes, interleaved, median of ``--runs``.

    python bench/shell.py [--devices 1000] [--tabs 500] [--runs 5]
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from _lab import as_installed, lab_with_sim, xiot_executable

LAB_NAME = "benchshell"
#: Lines typed before Tab: JID prefixes over the whole roster, commands, options, values.
TYPED = ("readout dev", "readout dev0", "readout dev05", "control dev00", "use dev",
         "ping dev01", "rea", "readout --f", "pubsub ", "readout -o ")


async def completion_latencies(tabs: int) -> tuple[list[float], int]:
    """Milliseconds per Tab, and how many JIDs 'readout dev' offered."""
    from prompt_toolkit.document import Document

    from xiot.config import GlobalOptions
    from xiot.runtime import Environment, settings_for
    from xiot.shell.completion import ShellCompleter
    from xiot.shell.engine import Shell

    shell = Shell(settings_for(GlobalOptions(profile=LAB_NAME)), Environment.from_process(),
                  announce=True)
    await shell.open()
    try:
        from xiot.presence.tracker import PresenceTracker

        tracker = shell.session.state(PresenceTracker)  # type: ignore[union-attr]
        await tracker.wait_settled(time.monotonic() + 30, quiet=2.0)
        completer = ShellCompleter(shell)
        offered = len(list(completer.get_completions(Document("readout dev"), None)))
        samples = []
        for number in range(tabs):
            text = TYPED[number % len(TYPED)]
            started = time.perf_counter()
            list(completer.get_completions(Document(text), None))
            samples.append((time.perf_counter() - started) * 1000)
            if number % 50 == 0:
                await asyncio.sleep(0)  # let presence in, as between real key presses
        return samples, offered
    finally:
        await shell.close()


def ten_commands(devices: int) -> list[list[str]]:
    step = max(1, devices // 5)
    reads = [f"dev{1 + i * step:04d}@xiot.test" for i in range(5)]
    return [["ping", "-o", "ndjson"]] * 5 + [["readout", jid, "-o", "ndjson"] for jid in reads]


def timed(argv_list: list[list[str]], env: dict[str, str]) -> float:
    started = time.perf_counter()
    for argv in argv_list:
        done = subprocess.run(argv, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                              text=True, check=False)
        if done.returncode != 0:
            sys.exit(f"{' '.join(argv)} failed: {done.stderr.strip()}")
    return time.perf_counter() - started


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--devices", type=int, default=1000, help="simulated devices")
    parser.add_argument("--tabs", type=int, default=500, help="completions timed")
    parser.add_argument("--runs", type=int, default=5, help="runs of the ten commands")
    args = parser.parse_args()
    as_installed()
    xiot = xiot_executable()
    print(f"setting up: lab '{LAB_NAME}' with {args.devices} devices and the simulator...",
          file=sys.stderr, flush=True)
    with lab_with_sim(LAB_NAME, args.devices) as run:
        samples, offered = asyncio.run(completion_latencies(max(10, args.tabs)))
        commands = ten_commands(args.devices)
        script = "; ".join(" ".join(words) for words in commands)
        separate = [[xiot, "--profile", LAB_NAME, *words] for words in commands]
        shell = [[xiot, "--profile", LAB_NAME, "shell", "-c", script]]
        times: dict[str, list[float]] = {"ten xiot processes": [], "one xiot shell -c": []}
        for _ in range(max(1, args.runs)):
            times["ten xiot processes"].append(timed(separate, run.env))
            times["one xiot shell -c"].append(timed(shell, run.env))
    print(f"Tab completion, {args.devices}-device roster ({offered} JIDs offered for "
          f"'readout dev'), {len(samples)} Tabs:")
    print(f"  p50 {pct(samples, 0.5):.2f} ms   p99 {pct(samples, 0.99):.2f} ms   "
          f"max {max(samples):.2f} ms   (budget: p99 < 50 ms)")
    print(f"Ten commands (5 pings, 5 readouts), median of {args.runs} runs:")
    for name, values in times.items():
        print(f"  {name:<20} {statistics.median(values) * 1000:8.0f} ms")
    if pct(samples, 0.99) >= 50:
        sys.exit(1)


if __name__ == "__main__":
    main()
