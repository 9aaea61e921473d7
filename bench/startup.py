"""Start-up time of ``xiot --help`` and of a tab completion, against ``import typer``.

Budget (DESIGN.md): at most 1.2x ``python -c "import typer"``.  The three commands are run
interleaved, so machine noise hits them alike, and the median of each is compared.

    python bench/startup.py [--runs 15]
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import sysconfig
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from _lab import as_installed


def timed(argv: list[str], env: dict[str, str]) -> float:
    started = time.perf_counter()
    subprocess.run(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env,
                   check=False)
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=15, help="runs of each (at least 10)")
    runs = max(10, parser.parse_args().runs)
    as_installed()
    # The console script next to this interpreter, not a version-manager shim on PATH (a
    # pyenv shim adds ~70 ms to every start and would be timed as if it were xiot).
    script = Path(sysconfig.get_path("scripts")) / "xiot"
    xiot = str(script) if script.exists() else shutil.which("xiot")
    if not xiot:
        sys.exit("xiot is not installed for this Python: pip install .")
    env = dict(os.environ)
    completion_env = dict(env, _XIOT_COMPLETE="complete_bash", COMP_WORDS="xiot p",
                          COMP_CWORD="1")
    cases = {
        "python -c 'import typer'": ([sys.executable, "-c", "import typer"], env),
        "xiot --help": ([xiot, "--help"], env),
        "xiot completion (bash)": ([xiot], completion_env),
    }
    for argv, case_env in cases.values():  # warm the page cache
        timed(argv, case_env)
    samples: dict[str, list[float]] = {name: [] for name in cases}
    for _ in range(runs):
        for name, (argv, case_env) in cases.items():
            samples[name].append(timed(argv, case_env))
    medians = {name: statistics.median(values) for name, values in samples.items()}
    base = medians["python -c 'import typer'"]
    print(f"{'command':<28} {'median ms':>10} {'ratio':>7}   ({runs} runs each)")
    for name, value in medians.items():
        print(f"{name:<28} {value * 1000:>10.1f} {value / base:>7.2f}")
    worst = max(medians["xiot --help"], medians["xiot completion (bash)"]) / base
    print(f"ratio (worst of help and completion vs import typer, budget 1.20): {worst:.2f}")


if __name__ == "__main__":
    main()
