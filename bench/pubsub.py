"""PubSub delivery: ``xiot pubsub watch`` vs a bare slixmpp subscriber, same publisher, same run.

A private lab (Prosody, or ejabberd with ``--server ejabberd``) gets a node; a bare slixmpp
publisher (a process of its own, the same in every run) publishes N items as fast as the
server takes them (a window of iqs in flight), each stamped with its send time.  The
subscriber is either

- ``xiot pubsub watch NODE --count N -o ndjson`` (the CLI, as a user runs it), or
- a minimal hand-written slixmpp subscriber using the ``xep_0060`` plugin, printing one JSON
  line per item,

both whole processes whose stdout this script reads, stamping each line as it arrives.  Runs
alternate between the two; each reports items/s (items over first send to last arrival) and
the p50/p99 delivery latency (send stamp to arrival).  Budget: xiot's time to deliver all
items at most 1.25x the bare subscriber's, printed last.

    python bench/pubsub.py [--items 10000] [--runs 3] [--server prosody|ejabberd]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import threading
import time
from dataclasses import dataclass

from _lab import _private_environment, xiot_executable

NODE = "bench"
BUDGET = 1.25
WINDOW = 64

COMMON = r'''
import asyncio, json, os, ssl, sys, time
import slixmpp

JID, HOST, PORT, CA, SERVICE, NODE, COUNT = sys.argv[1:8]
PORT, COUNT = int(PORT), int(COUNT)


def client(plugins):
    ctx = ssl.create_default_context(cafile=CA)
    xmpp = slixmpp.ClientXMPP(JID, os.environ["BENCH_PASSWORD"], ssl_context=ctx)
    for name in plugins:
        xmpp.register_plugin(name)
    xmpp.enable_direct_tls = False
    xmpp.enable_plaintext = False
    return xmpp
'''

SUBSCRIBER = COMMON + r'''
xmpp = client(["xep_0030", "xep_0060"])
seen = 0
out = sys.stdout


async def start(_):
    await xmpp["xep_0060"].subscribe(SERVICE, NODE, subscribee=str(xmpp.boundjid))


def on_item(msg):
    global seen
    item = msg["pubsub_event"]["items"]["item"]
    payload = item.xml.find("{urn:xiot:bench}t")
    out.write(json.dumps({"id": item["id"], "s": payload.get("s")}) + "\n")
    out.flush()
    seen += 1
    if seen >= COUNT:
        xmpp.disconnect()


xmpp.add_event_handler("session_start", start)
xmpp.add_event_handler("pubsub_publish", on_item)
xmpp.connect(HOST, PORT)
asyncio.get_event_loop().run_until_complete(xmpp.disconnected)
'''

PUBLISHER = COMMON + r'''
import xml.etree.ElementTree as ET

xmpp = client(["xep_0030", "xep_0060"])


async def start(_):
    limit = asyncio.Semaphore(int(os.environ.get("BENCH_WINDOW", "64")))

    async def one(n):
        async with limit:
            payload = ET.Element("{urn:xiot:bench}t", {"s": repr(time.time()), "n": str(n)})
            await xmpp["xep_0060"].publish(SERVICE, NODE, id=f"i{n}", payload=payload,
                                           timeout=60)

    await asyncio.gather(*(one(n) for n in range(COUNT)))
    xmpp.disconnect()


xmpp.add_event_handler("session_start", start)
xmpp.connect(HOST, PORT)
asyncio.get_event_loop().run_until_complete(xmpp.disconnected)
'''


@dataclass(frozen=True)
class Run:
    mode: str
    items: int
    seconds: float  # first send to last arrival
    latencies_ms: tuple[float, ...]

    @property
    def rate(self) -> float:
        return self.items / self.seconds if self.seconds else 0.0

    def percentile(self, q: float) -> float:
        ordered = sorted(self.latencies_ms)
        return ordered[min(len(ordered) - 1, int(q * len(ordered)))] if ordered else 0.0


def _send_stamp(line: dict, mode: str) -> float | None:
    if mode == "bare":
        return float(line["s"]) if line.get("s") else None
    payload = line.get("payload") or ""
    marker = ' s="'
    at = payload.find(marker)
    if at < 0:
        return None
    return float(payload[at + len(marker):payload.index('"', at + len(marker))])


def _subscribed(lab, admin, jid_prefix: str) -> int:  # type: ignore[no-untyped-def]
    """How many subscriptions of the admin the bench node has (read with xiot's library)."""
    import asyncio

    from xiot.config import GlobalOptions, resolve
    from xiot.pubsub import core, subscriptions
    from xiot.xmpp.session import Session

    async def count() -> int:
        async with Session(resolve(GlobalOptions(profile=lab.name))) as session:
            where = await core.target(session)
            found = await subscriptions.subscriptions(session, where, NODE)
            return sum(s.jid.startswith(jid_prefix) and s.subscription == "subscribed"
                       for s in found)

    return asyncio.run(count())


def one_run(mode: str, lab, admin, env: dict[str, str], items: int,  # type: ignore[no-untyped-def]
            service: str) -> Run:
    args = [admin.jid, lab.host, str(lab.ports["c2s"]), str(lab.ca_file), service, NODE,
            str(items)]
    if mode == "xiot":
        argv = [xiot_executable(), "--profile", lab.name, "pubsub", "watch", NODE,
                "--count", str(items), "--duration", "600", "-o", "ndjson"]
    else:
        argv = [sys.executable, "-c", SUBSCRIBER, *args]
    sub_env = env | {"BENCH_PASSWORD": admin.password}
    before = _subscribed(lab, admin, admin.jid)
    sub = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=sub_env,
                           text=True, bufsize=1)
    arrivals: list[tuple[float, dict]] = []

    def read() -> None:
        assert sub.stdout is not None
        for text in sub.stdout:
            arrivals.append((time.time(), json.loads(text)))

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    deadline = time.monotonic() + 60
    while _subscribed(lab, admin, admin.jid) <= before:
        if time.monotonic() > deadline or sub.poll() is not None:
            sub.kill()
            raise RuntimeError(f"{mode} subscriber never subscribed: {sub.stderr.read()}")
        time.sleep(0.05)
    publisher = subprocess.run([sys.executable, "-c", PUBLISHER, *args], env=sub_env |
                               {"BENCH_WINDOW": str(WINDOW)}, capture_output=True, text=True,
                               timeout=900, check=False)
    if publisher.returncode != 0:
        sub.kill()
        raise RuntimeError(f"publisher failed: {publisher.stderr[-2000:]}")
    try:
        sub.wait(600)
    except subprocess.TimeoutExpired:
        sub.kill()
        raise RuntimeError(f"{mode} subscriber got {len(arrivals)} of {items} items") from None
    reader.join(10)
    if sub.returncode != 0 or len(arrivals) < items:
        raise RuntimeError(f"{mode} subscriber exited {sub.returncode} after {len(arrivals)} "
                           f"items: {sub.stderr.read()[-2000:]}")
    stamps = [(at, _send_stamp(line, mode)) for at, line in arrivals]
    latencies = tuple((at - sent) * 1000 for at, sent in stamps if sent is not None)
    first = min(sent for _, sent in stamps if sent is not None)
    return Run(mode, len(arrivals), arrivals[-1][0] - first, latencies)


def prepare_node(lab) -> str:  # type: ignore[no-untyped-def]
    import asyncio

    from xiot.config import GlobalOptions, resolve
    from xiot.pubsub import core, nodes
    from xiot.xmpp.session import Session

    async def make() -> str:
        async with Session(resolve(GlobalOptions(profile=lab.name))) as session:
            where = await core.target(session)
            if not await nodes.exists(session, where, NODE):
                await nodes.create(session, where, NODE, {"pubsub#persist_items": False,
                                                          "pubsub#max_items": 1})
            return where.service

    return asyncio.run(make())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--items", type=int, default=10_000)
    parser.add_argument("--runs", type=int, default=3, help="Runs per subscriber.")
    parser.add_argument("--server", choices=("prosody", "ejabberd"), default="prosody")
    options = parser.parse_args()

    from xiot.lab import manager

    with _private_environment("xiot-bench-pubsub-") as (_, env):
        lab, _ = manager.up(name="benchps", devices=1, server=options.server)
        try:
            admin = next(a for a in manager.accounts(lab) if a.role == "admin")
            service = prepare_node(lab)
            print(f"{options.server} {lab.server_version}: {options.items} items per run, "
                  f"{options.runs} runs per subscriber, publisher window {WINDOW}",
                  flush=True)
            runs: dict[str, list[Run]] = {"xiot": [], "bare": []}
            for number in range(options.runs):
                order = ("xiot", "bare") if number % 2 == 0 else ("bare", "xiot")
                for mode in order:
                    run = one_run(mode, lab, admin, env, options.items, service)
                    runs[mode].append(run)
                    print(f"  {mode:5} run {number + 1}: {run.rate:8.0f} items/s, "
                          f"p50 {run.percentile(0.5):7.1f} ms, "
                          f"p99 {run.percentile(0.99):7.1f} ms", flush=True)
        finally:
            manager.down("benchps")
    summary = {}
    for mode, done in runs.items():
        summary[mode] = (statistics.median(r.seconds for r in done),
                         statistics.median(r.rate for r in done),
                         statistics.median(r.percentile(0.5) for r in done),
                         statistics.median(r.percentile(0.99) for r in done))
        seconds, rate, p50, p99 = summary[mode]
        label = "xiot pubsub watch" if mode == "xiot" else "bare slixmpp"
        print(f"{label:18}: {rate:8.0f} items/s ({seconds:.2f} s), p50 {p50:.1f} ms, "
              f"p99 {p99:.1f} ms (medians)")
    ratio = summary["xiot"][0] / summary["bare"][0]
    verdict = "within" if ratio <= BUDGET else "OVER"
    print(f"latency ratio xiot/bare: p50 {summary['xiot'][2] / summary['bare'][2]:.2f}, "
          f"p99 {summary['xiot'][3] / summary['bare'][3]:.2f}")
    print(f"ratio xiot/bare (time to deliver all {options.items} items): {ratio:.2f} "
          f"({verdict} budget {BUDGET})")


if __name__ == "__main__":
    os.environ.setdefault("PYTHONUNBUFFERED", "1")
    main()
