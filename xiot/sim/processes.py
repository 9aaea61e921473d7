"""A simulated fleet spread over several processes: ``xiot sim run --processes N``.

One Python process holds about a thousand devices (each is a TLS stream and a slixmpp client
on one event loop, one core), so a 10,000-device fleet runs as ten ``xiot sim run`` children.
Each child gets its share of the accounts as CSV on its stdin (passwords never reach argv),
with the kind every device would have had in one process, and a churn rate scaled so the
fleet as a whole flaps as often as asked.  The parent forwards the children's events and
messages, and stops them all (SIGTERM) when it is stopped.
"""

from __future__ import annotations

import asyncio
import contextlib
import csv
import io
import signal
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from xiot.sim.fleet import SimAccount

#: How many devices one process is meant to carry.
PER_PROCESS = 1000


@dataclass(frozen=True)
class ChildLine:
    """One line a child wrote: ``out`` (an event record) or ``err`` (a message)."""

    part: int
    stream: str
    text: str


def split(accounts: Sequence[SimAccount], parts: int) -> list[list[SimAccount]]:
    """``parts`` contiguous, near-equal shares (none empty); order is kept."""
    parts = max(1, min(parts, len(accounts)))
    size, extra = divmod(len(accounts), parts)
    out, start = [], 0
    for part in range(parts):
        end = start + size + (part < extra)
        out.append(list(accounts[start:end]))
        start = end
    return out


def accounts_csv(accounts: Sequence[SimAccount], kinds: Sequence[str], offset: int) -> str:
    """The CSV a child reads on stdin; kinds continue the fleet-wide rotation."""
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(["jid", "password", "kind"])
    for i, account in enumerate(accounts):
        writer.writerow([account.jid, account.password,
                         account.kind or kinds[(offset + i) % len(kinds)]])
    return buffer.getvalue()


async def run_children(argvs: Sequence[Sequence[str]], inputs: Sequence[str],
                       on_line: Callable[[ChildLine], None], stop: asyncio.Event
                       ) -> list[int]:
    """Run one child per argv (its stdin: the matching input) until all end or ``stop``.

    On ``stop`` (or cancellation) every child still running gets SIGTERM, then SIGKILL if it
    lingers; returns the children's exit statuses.
    """
    children = []
    for argv in argvs:
        children.append(await asyncio.create_subprocess_exec(
            *argv, stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE))
    readers = []
    for part, (child, text) in enumerate(zip(children, inputs, strict=True), start=1):
        assert child.stdin is not None
        child.stdin.write(text.encode())
        with contextlib.suppress(ConnectionError):
            await child.stdin.drain()
        child.stdin.close()
        readers.append(asyncio.ensure_future(_forward(child.stdout, part, "out", on_line)))
        readers.append(asyncio.ensure_future(_forward(child.stderr, part, "err", on_line)))
    waits = [asyncio.ensure_future(child.wait()) for child in children]
    stopper = asyncio.ensure_future(stop.wait())
    try:
        await asyncio.wait([*waits, stopper], return_when=asyncio.FIRST_COMPLETED)
        while not stop.is_set() and not all(w.done() for w in waits):
            await asyncio.wait([*waits, stopper], return_when=asyncio.FIRST_COMPLETED)
    finally:
        stopper.cancel()
        await _terminate(children)
        await asyncio.gather(*readers, return_exceptions=True)
    return [child.returncode if child.returncode is not None else -1 for child in children]


async def _forward(stream: asyncio.StreamReader | None, part: int, name: str,
                   on_line: Callable[[ChildLine], None]) -> None:
    if stream is None:
        return
    while True:
        line = await stream.readline()
        if not line:
            return
        on_line(ChildLine(part, name, line.decode(errors="replace").rstrip("\n")))


async def _terminate(children: Sequence[asyncio.subprocess.Process], wait: float = 20.0
                     ) -> None:
    """SIGTERM every running child (they stop their devices cleanly), SIGKILL stragglers."""
    running = [c for c in children if c.returncode is None]
    for child in running:
        with contextlib.suppress(ProcessLookupError):
            child.send_signal(signal.SIGTERM)
    if not running:
        return
    try:
        await asyncio.wait_for(asyncio.gather(*(c.wait() for c in running)), wait)
    except TimeoutError:
        for child in running:
            if child.returncode is None:
                with contextlib.suppress(ProcessLookupError):
                    child.kill()
        await asyncio.gather(*(c.wait() for c in running), return_exceptions=True)
