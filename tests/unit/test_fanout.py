"""Bounded fan-out: the limit holds, results stream, and nothing is left behind on an error."""

from __future__ import annotations

import asyncio
import gc

import pytest

from xiot.fanout import bounded


def test_the_limit_holds_and_every_result_arrives():
    running = 0
    peak = 0

    async def work(n: int) -> int:
        nonlocal running, peak
        running += 1
        peak = max(peak, running)
        await asyncio.sleep(0.01)
        running -= 1
        return n * 2

    async def main():
        return sorted([r async for r in bounded(range(20), work, 3)])

    assert asyncio.run(main()) == [n * 2 for n in range(20)]
    assert peak == 3


def test_an_error_cancels_the_rest_and_leaves_no_unretrieved_exception(caplog):
    started = []

    async def work(n: int) -> int:
        started.append(n)
        if n in (0, 1):  # two fail at the same moment
            raise ValueError(f"boom {n}")
        await asyncio.sleep(10)
        return n

    async def main():
        with pytest.raises(ValueError):
            async for _ in bounded(range(10), work, 5):
                pass
        return [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]

    with caplog.at_level("ERROR", logger="asyncio"):
        left = asyncio.run(main())
        gc.collect()
    assert left == []
    assert "never retrieved" not in caplog.text


def test_bounded_stream_starts_work_as_items_arrive():
    order = []

    async def source():
        for n in range(3):
            order.append(f"item {n}")
            yield n
            await asyncio.sleep(0.02)

    async def work(n: int) -> int:
        order.append(f"work {n}")
        return n

    async def main():
        from xiot.fanout import bounded_stream

        return [r async for r in bounded_stream(source(), work, 2)]

    assert sorted(asyncio.run(main())) == [0, 1, 2]
    # the first item was worked on before the source produced the second
    assert order.index("work 0") < order.index("item 1")


def test_bounded_stream_raises_the_sources_error():
    async def source():
        yield 1
        raise RuntimeError("source broke")

    async def work(n: int) -> int:
        return n

    async def main():
        from xiot.fanout import bounded_stream

        return [r async for r in bounded_stream(source(), work, 2)]

    with pytest.raises(RuntimeError, match="source broke"):
        asyncio.run(main())
