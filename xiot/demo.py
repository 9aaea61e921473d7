"""The newcomer's tour: a lab, then real exchanges against it, then tear-down.

Each step yields a ``StepOutcome`` as it finishes, so the command can print progress live and
the tests can check what happened without parsing text.
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, replace
from typing import Any

from xiot.config import GlobalOptions, resolve
from xiot.lab import manager


@dataclass(frozen=True)
class StepOutcome:
    """One demo step: what was done, whether it worked, and the figure worth showing."""

    step: int
    name: str
    ok: bool
    detail: str
    elapsed_ms: float

    def to_record(self) -> dict[str, Any]:
        return {"step": self.step, "name": self.name, "ok": self.ok, "detail": self.detail,
                "elapsed_ms": round(self.elapsed_ms, 1)}


async def run_demo(name: str = "demo", devices: int = 20, keep: bool = False
                   ) -> AsyncIterator[StepOutcome]:
    """Bring up lab ``name``, ping and disco it, and take it down again unless ``keep``."""
    from xiot.xmpp.disco import get_info, get_items
    from xiot.xmpp.ping import ping_once
    from xiot.xmpp.session import Session

    clock = time.perf_counter()

    def outcome(step: int, title: str, ok: bool, detail: str) -> StepOutcome:
        nonlocal clock
        now = time.perf_counter()
        elapsed, clock = (now - clock) * 1000, now
        return StepOutcome(step, title, ok, detail, elapsed)

    lab, started = manager.up(name=name, devices=devices)
    yield outcome(1, "lab up", True,
                  f"Prosody {lab.prosody_version} on {lab.host}:{lab.ports['c2s']}, "
                  f"{lab.devices} device accounts" + ("" if started else " (already running)"))
    try:
        settings = replace(resolve(GlobalOptions(profile=name)), timeout=10)
        async with Session(settings) as session:
            yield outcome(2, "log in", True,
                          f"{session.client.boundjid} over {session.endpoint}")
            pong = await ping_once(session.client, lab.domain, 1, settings.timeout)
            yield outcome(3, "ping server", pong.status == "ok",
                          f"{pong.rtt_ms:.2f} ms" if pong.rtt_ms else str(pong.error))
            info = await get_info(session.client, lab.domain, None, settings.timeout)
            yield outcome(4, "disco server", True,
                          f"{len(info.features)} features, e.g. "
                          + ", ".join(f for f in info.features if "ping" in f or "register" in f))
            items = await get_items(session.client, lab.domain, None, settings.timeout)
            yield outcome(5, "disco items", True, ", ".join(i.jid for i in items.items))
    finally:
        if not keep:
            manager.down(name)
    if not keep:
        yield outcome(6, "lab down", True, f"stopped pid {lab.pid}, removed {lab.directory}")
