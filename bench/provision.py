"""Provisioning: accounts and mutual subscriptions for N devices, per-device cost, and which
side limits it.

A private lab (Prosody on loopback, only its admin account) is started in a temporary
directory and torn down at the end.  Timed as whole ``xiot`` processes:

1. ``xiot provision accounts create`` of N device accounts and one operator (XEP-0133
   add-user over the admin's one connection, passwords to the accounts file);
2. the same through XEP-0077 in-band registration for a sample (one stream per account);
3. ``xiot provision roster apply`` making the operator and every device subscribed both ways
   (the operator's half on its connection, each device's half by logging in as it);
4. the same apply again: nothing to do, every row ``unchanged``.

For each step the CPU seconds of the xiot process and of the Prosody process are read from
/proc: the one whose CPU is close to the wall time is what limited the step.  Server limits
that bite elsewhere (registration throttles, rate limits, roster size) are reported as the
lab has them.

    python bench/provision.py [--devices 1000] [--ibr-sample 100] [--concurrency 20]
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from _lab import _private_environment, cpu_seconds, xiot_executable

RUN_TIMEOUT = 900.0


@dataclass(frozen=True)
class Step:
    name: str
    rows: int
    seconds: float
    client_cpu: float
    server_cpu: float
    summary: str

    @property
    def per_row_ms(self) -> float:
        return self.seconds / self.rows * 1000

    def limited_by(self) -> str:
        client, server = self.client_cpu / self.seconds, self.server_cpu / self.seconds
        if max(client, server) < 0.5:
            return f"waiting (client {client:.0%}, server {server:.0%} of one core)"
        side = "the server (Prosody)" if server > client else "the client (xiot)"
        return f"{side}: client {client:.0%}, server {server:.0%} of one core"


def run_step(name: str, argv: list[str], rows: int, env: dict[str, str], cwd: Path,
             server_pid: int) -> Step:
    server_before = cpu_seconds(server_pid)
    started = time.perf_counter()
    proc = subprocess.Popen(argv, cwd=cwd, env=env, stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE, text=True)
    client_cpu = 0.0
    while proc.poll() is None:
        client_cpu = max(client_cpu, cpu_seconds(proc.pid))
        time.sleep(0.05)
        if time.perf_counter() - started > RUN_TIMEOUT:
            proc.kill()
            raise RuntimeError(f"{name} took longer than {RUN_TIMEOUT:.0f} s")
    seconds = time.perf_counter() - started
    err = proc.stderr.read() if proc.stderr else ""
    if proc.returncode != 0:
        raise RuntimeError(f"{name} exited {proc.returncode}: {err[-2000:]}")
    return Step(name, rows, seconds, client_cpu, cpu_seconds(server_pid) - server_before,
                err.strip().splitlines()[-1].removeprefix("xiot: ") if err.strip() else "")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--devices", type=int, default=1000)
    parser.add_argument("--ibr-sample", type=int, default=100)
    parser.add_argument("--concurrency", type=int, default=20)
    args = parser.parse_args()
    from xiot.lab import manager

    xiot = xiot_executable()
    with _private_environment("xiot-bench-provision-") as (tmp, env):
        try:
            lab, _ = manager.up(name="bench-provision", devices=0)
            env = dict(env, XIOT_PROFILE=lab.name)
            work = tmp / "work"
            work.mkdir()
            devices = [f"pdev{i:05d}@{lab.domain}" for i in range(1, args.devices + 1)]
            ops = f"ops@{lab.domain}"
            (work / "accounts.csv").write_text("jid\n" + "\n".join([ops, *devices]) + "\n")
            sample = [f"ibr{i:05d}@{lab.domain}" for i in range(1, args.ibr_sample + 1)]
            (work / "ibr.csv").write_text("jid\n" + "\n".join(sample) + "\n")
            (work / "fleet.csv").write_text(
                "jid,name,groups\n" + "".join(f"{d},{d.split('@')[0]},devices\n"
                                              for d in devices))
            k = ["-k", str(args.concurrency)]
            steps = [
                run_step("accounts create (XEP-0133)",
                         [xiot, "provision", "accounts", "create", "accounts.csv", *k],
                         args.devices + 1, env, work, lab.pid),
                run_step("accounts create (XEP-0077)",
                         [xiot, "provision", "accounts", "create", "ibr.csv", "--method",
                          "register", *k], args.ibr_sample, env, work, lab.pid),
                run_step("roster apply, mutual",
                         [xiot, "provision", "roster", "apply", "fleet.csv", "--owner", ops,
                          *k], args.devices, env, work, lab.pid),
                run_step("roster apply again",
                         [xiot, "provision", "roster", "apply", "fleet.csv", "--owner", ops,
                          *k], args.devices, env, work, lab.pid),
            ]
        finally:
            manager.down("bench-provision")
    print(f"cpus: {os.cpu_count()}, {args.devices} devices, concurrency {args.concurrency}")
    print(f"{'step':<28} {'rows':>6} {'total':>8} {'per row':>9}  limited by")
    for s in steps:
        print(f"{s.name:<28} {s.rows:>6} {s.seconds:>7.1f}s {s.per_row_ms:>7.1f}ms  "
              f"{s.limited_by()}")
    for s in steps:
        print(f"  {s.name}: {s.summary}")
    print("server limits on the lab: mod_limits off, registration throttle exempt on "
          "loopback, no roster-size cap (Prosody 0.12); ejabberd's default shaper and "
          "registration_timeout would dominate instead (see README)")
    accounts, mutual = steps[0], steps[2]
    per_device = (accounts.seconds / accounts.rows + mutual.seconds / mutual.rows) * 1000
    print(f"per device, account + mutual subscription: {per_device:.1f} ms")
    print(f"ratio in-band registration / admin command per account: "
          f"{steps[1].per_row_ms / accounts.per_row_ms:.1f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
