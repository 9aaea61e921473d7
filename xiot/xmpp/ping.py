"""XEP-0199 ping: round trips to the server or any JID."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

from xiot.xmpp.errors import describe_iq_error

if TYPE_CHECKING:
    from xiot.xmpp.session import Session

PING_NS = "urn:xmpp:ping"


@dataclass(frozen=True)
class PingResult:
    """One ping: ``ok`` with a round trip, or an error/timeout with the reason."""

    target: str
    seq: int
    status: Literal["ok", "error", "timeout"]
    rtt_ms: float | None
    error: str | None = None

    def to_record(self) -> dict[str, Any]:
        return {"target": self.target, "seq": self.seq, "status": self.status,
                "rtt_ms": None if self.rtt_ms is None else round(self.rtt_ms, 3),
                "error": self.error}


async def ping_once(session: Session, target: str, seq: int, timeout: float) -> PingResult:
    """Send one ping iq and time the answer.

    An error reply still proves the entity is reachable, but ``feature-not-implemented``
    style answers are reported as errors so scripts can tell them from a pong.
    """
    from slixmpp.exceptions import IqError, IqTimeout

    iq = session.client.make_iq_get(ito=target)
    iq.enable("ping")  # the Ping stanza plugin is registered by slixmpp's xep_0199
    started = time.perf_counter()
    try:
        await session.guard(iq.send(timeout=timeout))
    except IqError as exc:
        rtt = (time.perf_counter() - started) * 1000
        return PingResult(target, seq, "error", rtt, describe_iq_error(exc))
    except IqTimeout:
        return PingResult(target, seq, "timeout", None, f"no answer within {timeout:g}s")
    return PingResult(target, seq, "ok", (time.perf_counter() - started) * 1000)


async def ping(
    session: Session, target: str, count: int, interval: float, timeout: float
) -> AsyncIterator[PingResult]:
    """``count`` pings, ``interval`` seconds apart, yielded as they complete."""
    for seq in range(1, count + 1):
        yield await ping_once(session, target, seq, timeout)
        if seq < count:
            await asyncio.sleep(interval)


@dataclass(frozen=True)
class PingSummary:
    target: str
    sent: int
    received: int
    min_ms: float | None
    avg_ms: float | None
    max_ms: float | None

    @classmethod
    def of(cls, target: str, results: list[PingResult]) -> PingSummary:
        rtts = [r.rtt_ms for r in results if r.status == "ok" and r.rtt_ms is not None]
        return cls(target, len(results), len(rtts), min(rtts, default=None),
                   sum(rtts) / len(rtts) if rtts else None, max(rtts, default=None))
