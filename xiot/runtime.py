"""The runtime a command borrows: resolved settings, the terminal, and a live Session.

A command never opens its own connection or event loop.  It parses its options, hands one
library operation to ``Runtime.session_run`` (or ``Runtime.run`` for work that needs no XMPP
login) and renders what comes back.  Who owns the connection differs by caller:

* the CLI builds a ``Runtime`` per command; ``session_run`` opens a Session, runs the
  operation, and closes the Session;
* the shell keeps one Session and one event loop alive for many commands: it builds a
  ``Runtime`` with ``lend(session, loop)`` and runs each command in a worker thread, so the
  same typer command's coroutine is handed to the shell's loop and its live Session;
* tests substitute the ``Environment`` (streams, TTY flags, width) the way the shell does.

The runtime sits above every protocol package and below the commands: it may import any of
them, and nothing below it imports it.
"""

from __future__ import annotations

import asyncio
import os
import sys
from collections.abc import Awaitable, Callable, Coroutine
from dataclasses import dataclass, field, replace
from typing import IO, TYPE_CHECKING, Any, TypeVar

from xiot.config import GlobalOptions, Settings, resolve

if TYPE_CHECKING:
    from xiot.xmpp.session import Session

T = TypeVar("T")


@dataclass(frozen=True)
class Environment:
    """The terminal a command talks to: streams, whether a person is watching, colour, width.

    Built once from the process for the CLI; the shell and the tests build their own.
    """

    stdin: IO[str]
    stdout: IO[str]
    stderr: IO[str]
    stdout_isatty: bool
    stderr_isatty: bool
    stdin_isatty: bool
    no_color: bool = False
    width: int | None = None

    @classmethod
    def from_process(cls, no_color: bool = False) -> Environment:
        """The process's own streams, with ``NO_COLOR`` honoured."""
        return cls(
            stdin=sys.stdin, stdout=sys.stdout, stderr=sys.stderr,
            stdout_isatty=_isatty(sys.stdout), stderr_isatty=_isatty(sys.stderr),
            stdin_isatty=_isatty(sys.stdin),
            no_color=no_color or os.environ.get("NO_COLOR", "") != "",
        )

    def say(self, text: str) -> None:
        """One line for a person, on stderr, prefixed like every xiot message."""
        prefix = "" if text.startswith("xiot:") else "xiot: "
        self.stderr.write(f"{prefix}{text}\n")
        self.stderr.flush()


def _isatty(stream: Any) -> bool:
    isatty = getattr(stream, "isatty", None)
    try:
        return bool(isatty()) if isatty is not None else False
    except ValueError:  # a closed stream
        return False


def settings_for(options: GlobalOptions) -> Settings:
    """Resolve settings with JIDs checked by the XMPP layer's parser (RFC 7622)."""
    from xiot.xmpp.jid import parse_jid

    return resolve(options, jid_check=lambda text: str(parse_jid(text)))


@dataclass
class Runtime:
    """What one command runs with; see the module docstring for who builds it."""

    options: GlobalOptions = field(default_factory=GlobalOptions)
    env: Environment = field(default_factory=Environment.from_process)
    #: A Session lent by the shell or a replay actor; None: open one per command.
    lent_session: Session | None = None
    #: The loop the lent Session lives on; commands then run in another thread.
    loop: asyncio.AbstractEventLoop | None = None
    #: With a lent Session: awaits its owner's next Session once the stream was lost, so a
    #: watch goes on (the shell's background jobs); None: a lost lent Session ends the watch.
    relend: Callable[[], Awaitable[Session]] | None = None
    _settings: Settings | None = field(default=None, repr=False)

    # ----------------------------------------------------------------- settings and output

    @property
    def settings(self) -> Settings:
        """Flags > ``XIOT_*`` environment > profile > defaults, resolved once."""
        if self._settings is None:
            if self.lent_session is not None:
                self._settings = self.lent_session.settings
            else:
                self._settings = settings_for(self.options)
        return self._settings

    def output_format(self, allowed: tuple[str, ...] | None = None) -> str:
        """The one output format of this command: ``-o`` > ``XIOT_OUTPUT`` > TTY default.

        Checked against the formats the command can render (``allowed``, default: the record
        formats), so a bad value is a usage error before any network work.
        """
        from xiot.output import RECORD_FORMATS, decide_format

        return decide_format(self.options.output, os.environ.get("XIOT_OUTPUT") or None,
                             self.env.stdout_isatty, allowed or RECORD_FORMATS)

    @property
    def no_color(self) -> bool:
        return self.options.no_color or self.env.no_color

    def with_options(self, options: GlobalOptions) -> Runtime:
        """The same terminal and lent Session with another command's root options."""
        return replace(self, options=options, _settings=None)

    def lend(self, session: Session, loop: asyncio.AbstractEventLoop) -> Runtime:
        """A runtime whose commands use ``session`` (on ``loop``) instead of opening one."""
        return replace(self, lent_session=session, loop=loop, _settings=None)

    # ----------------------------------------------------------------- running operations

    def run(self, work: Callable[[], Coroutine[Any, Any, T]]) -> T:
        """Run ``work()`` to completion on the right loop and return its result.

        From the CLI: a fresh ``asyncio.run``.  Under a lent loop (the shell): the coroutine
        is handed to that loop and this thread waits; Ctrl-C cancels it there.
        """
        if self.loop is None:
            return asyncio.run(work())
        if _running_loop() is self.loop:
            raise RuntimeError("Runtime.run() called on its own loop's thread: run the "
                               "command in a worker thread (asyncio.to_thread)")
        future = asyncio.run_coroutine_threadsafe(work(), self.loop)
        try:
            return future.result()
        except KeyboardInterrupt:
            future.cancel()
            raise

    def session_run(self, operation: Callable[[Session], Awaitable[T]], **session_options: Any
                    ) -> T:
        """Run ``operation(session)`` with the lent Session, or one opened for it."""
        async def work() -> T:
            if self.lent_session is not None:
                return await operation(self.lent_session)
            from xiot.xmpp.session import Session

            async with Session(self.settings, **session_options) as session:
                return await operation(session)

        return self.run(work)

    async def watch(self, one_round: Callable[[Session, int], Awaitable[bool]],
                    interval: float | None, rounds: int | None) -> int:
        """Run ``one_round(session, number)`` once, or every ``interval`` seconds.

        Returns how many rounds failed (``one_round`` returns True for a failed round).  A
        connection lost between or during rounds is said once on stderr; a one-shot run
        raises it (exit 4), a watch reconnects with growing, jittered waits and goes on, so a
        server restart costs a few rounds, not the watch.  A lent Session (the shell's) is
        never reopened here: its owner reconnects it, and a watch with ``relend`` waits for
        that and goes on.
        """
        from xiot.backoff import delays
        from xiot.errors import ConnectError
        from xiot.xmpp.session import ConnectionLost, Session

        failed = 0
        number = 0
        session: Session | None = self.lent_session
        lent = session is not None
        waits = None
        try:
            while True:
                if session is None:
                    try:
                        session = Session(self.settings)
                        await session.open()
                    except ConnectError as exc:
                        session = None
                        if interval is None or waits is None:
                            raise
                        await self._pause(f"{exc.message}; retrying", next(waits))
                        continue
                    if waits is not None:
                        self.env.say("reconnected")
                    waits = None
                number += 1
                try:
                    failed += bool(await one_round(session, number))
                except ConnectionLost as exc:
                    if interval is None or (lent and self.relend is None):
                        raise
                    failed += 1
                    if lent:
                        assert self.relend is not None
                        self.env.say(exc.message + "; going on once the shell has reconnected")
                        session = await self.relend()
                        continue
                    await session.close()
                    session = None
                    waits = delays(first=1.0, cap=30.0)
                    await self._pause(exc.message + "; reconnecting", next(waits))
                    continue
                if interval is None or (rounds is not None and number >= rounds):
                    return failed
                await asyncio.sleep(interval)
        finally:
            if session is not None and not lent:
                await session.close()

    async def _pause(self, text: str, seconds: float) -> None:
        self.env.say(f"{text} in {seconds:.1f} s")
        await asyncio.sleep(seconds)


def _running_loop() -> asyncio.AbstractEventLoop | None:
    try:
        return asyncio.get_running_loop()
    except RuntimeError:
        return None
