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
    """What ping(8) prints at the end: sent, received, loss, and min/avg/max/mdev."""

    target: str
    sent: int
    received: int
    min_ms: float | None
    avg_ms: float | None
    max_ms: float | None
    mdev_ms: float | None = None

    @classmethod
    def of(cls, target: str, results: list[PingResult]) -> PingSummary:
        rtts = [r.rtt_ms for r in results if r.status == "ok" and r.rtt_ms is not None]
        if not rtts:
            return cls(target, len(results), 0, None, None, None, None)
        avg = sum(rtts) / len(rtts)
        # ping(8)'s mdev: the mean deviation sqrt(mean(x^2) - mean(x)^2)
        mdev = max(0.0, sum(r * r for r in rtts) / len(rtts) - avg * avg) ** 0.5
        return cls(target, len(results), len(rtts), min(rtts), avg, max(rtts), mdev)

    @property
    def loss_pct(self) -> float:
        return 0.0 if not self.sent else 100.0 * (self.sent - self.received) / self.sent

    def to_record(self) -> dict[str, Any]:
        def ms(value: float | None) -> float | None:
            return None if value is None else round(value, 3)

        return {"target": self.target, "sent": self.sent, "received": self.received,
                "loss_pct": round(self.loss_pct, 1), "min_ms": ms(self.min_ms),
                "avg_ms": ms(self.avg_ms), "max_ms": ms(self.max_ms),
                "mdev_ms": ms(self.mdev_ms)}

    def lines(self) -> list[str]:
        """The summary as ping(8) words it."""
        head = (f"--- {self.target} ping statistics ---",
                f"{self.sent} sent, {self.received} received, {self.loss_pct:g}% loss")
        if self.min_ms is None:
            return list(head)
        return [*head, f"rtt min/avg/max/mdev = {self.min_ms:.3f}/{self.avg_ms:.3f}/"
                       f"{self.max_ms:.3f}/{self.mdev_ms or 0:.3f} ms"]
