"""Bounded fan-out: run one coroutine per item, at most N at a time, yield results as they end.

Readouts of a thousand devices and probes of a hundred domains have the same shape: many
independent waits on the network, a cap on how many are in flight, results streamed as they
complete.  Both use this one helper, so the rule that matters is kept in one place: when the
consumer stops early (Ctrl-C, a closed pipe, an error), every task still pending is cancelled
*and awaited*, so none outlives the caller or logs "Task was destroyed but it is pending".
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterable, AsyncIterator, Awaitable, Callable, Iterable
from typing import Any, TypeVar

T = TypeVar("T")
R = TypeVar("R")


async def bounded(
    items: Iterable[T], work: Callable[[T], Awaitable[R]], limit: int
) -> AsyncIterator[R]:
    """Yield ``await work(item)`` for every item, completion order, ``limit`` in flight.

    An exception from one item propagates to the consumer and cancels the rest.
    """
    gate = asyncio.Semaphore(max(1, limit))

    async def one(item: T) -> R:
        async with gate:
            return await work(item)

    tasks = [asyncio.ensure_future(one(item)) for item in items]
    try:
        for next_done in asyncio.as_completed(tasks):
            yield await next_done
    finally:
        await cancel_all(tasks)


async def bounded_stream(
    source: AsyncIterable[T], work: Callable[[T], Awaitable[R]], limit: int
) -> AsyncIterator[R]:
    """Like ``bounded``, for items that arrive over time: work on each starts as it arrives.

    A fleet readout given bare JIDs learns each device's address from its presence, one
    device at a time; reading it at once, while the rest of the presence burst is still
    arriving, overlaps the two waits instead of adding them.
    """
    gate = asyncio.Semaphore(max(1, limit))
    finished: asyncio.Queue[asyncio.Future[Any]] = asyncio.Queue()
    tasks: list[asyncio.Future[Any]] = []

    async def one(item: T) -> R:
        async with gate:
            return await work(item)

    async def feed() -> None:
        async for item in source:
            task = asyncio.ensure_future(one(item))
            task.add_done_callback(finished.put_nowait)
            tasks.append(task)

    feeder = asyncio.ensure_future(feed())
    feeder.add_done_callback(finished.put_nowait)
    yielded = 0
    try:
        while not (feeder.done() and yielded == len(tasks)):
            task = await finished.get()
            if task is feeder:
                feeder.result()  # the source's own error, if it had one
                continue
            yielded += 1
            yield task.result()
    finally:
        await cancel_all([feeder, *tasks])


async def cancel_all(tasks: Iterable[asyncio.Future[object]]) -> None:
    """Cancel every task that is still pending and wait until each has really ended.

    Tasks that had already failed have their exception retrieved here: the consumer stopped
    at the first error, and a second one is not news (asyncio would log it as "never
    retrieved" when the task is collected).
    """
    tasks = list(tasks)
    pending = [task for task in tasks if not task.done()]
    for task in pending:
        task.cancel()
    if pending:
        with contextlib.suppress(BaseException):
            await asyncio.gather(*pending, return_exceptions=True)
    for task in tasks:
        if task.done() and not task.cancelled():
            task.exception()
