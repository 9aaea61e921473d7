"""Waits between reconnection attempts: growing, capped, and jittered.

Jitter matters for fleets: when a server restarts, a thousand clients that all wait exactly
1, 2, 4 s reconnect in lockstep and knock it over again.  "Full jitter" (a random wait between
half the step and the whole step) spreads them out while still backing off.
"""

from __future__ import annotations

import random
from collections.abc import Iterator


def delays(first: float = 1.0, cap: float = 30.0, factor: float = 2.0,
           rng: random.Random | None = None) -> Iterator[float]:
    """An endless series of waits: step ``first``, ``first*factor``, ... up to ``cap``,
    each drawn uniformly from [step/2, step]."""
    pick = rng or random.Random()
    step = first
    while True:
        yield pick.uniform(step / 2, step)
        step = min(cap, step * factor)
