"""Running what the user typed: built-ins, the device context, and xiot commands in process.

``Shell`` owns the one Session of a shell run and the loop it lives on.  Every xiot command
runs in a worker thread through ``xiot.cli.run`` with a runtime lent this Session, so it is
the same typer command, options and error messages as on the command line.  Ctrl-C cancels
the command's coroutine on the loop (``interrupt``) and the command ends with exit 130 like
an interrupted CLI command.  A lost stream is reopened before the next command runs.
A command ending in ``&`` becomes a background job (``jobs``), which Ctrl-C leaves alone.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
from collections.abc import Callable, Coroutine
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, TypeVar

from xiot.errors import UsageError, XiotError
from xiot.runtime import Environment, Runtime
from xiot.shell.jobs import Jobs, job_builtin

if TYPE_CHECKING:
    from xiot.config import Settings
    from xiot.xmpp.session import Session

T = TypeVar("T")

#: Commands whose first argument is a device JID, which ``use JID`` can supply.
DEVICE_COMMANDS = ("readout", "control")
#: Words the shell itself understands; everything else is an xiot command.
BUILTINS = ("help", "use", "cd", "raw", "jobs", "kill", "wait", "exit", "quit")
#: pubsub subcommands that ``cd NODE`` does not supply a node to (it would create or list).
NO_NODE_CONTEXT = ("create", "list")

SHELL_HELP = """\
Shell commands (besides every xiot command, typed without 'xiot'):
  help [COMMAND...]      this text, or the --help of an xiot command
  use [JID|-]            show, set or clear the default device of readout and control
  use SERVICE            a JID without '@' (pubsub.example.org): the service of pubsub
  cd [NODE|/]            the default node of pubsub commands; 'cd /' clears it
  raw [--timeout S] XML  send a stanza; an iq get/set shows its answer
  COMMAND ... &          run an xiot command in the background as job N: its output is
                         printed above the prompt, each line prefixed with [N]
  jobs                   the background jobs: state, time, lines printed, command
  kill N|%N...           stop background jobs, as Ctrl-C stops a command
  wait [N...] [--timeout S]
                         until the jobs end; with N, the exit code of the first that failed
  exit, quit, Ctrl-D     leave the shell, stopping background jobs (Ctrl-C cancels the
                         command running in the foreground)"""


class _Running:
    """The futures of the commands running now, so Ctrl-C can cancel them on the loop.

    The foreground has one, and each background job one of its own."""

    def __init__(self) -> None:
        self.futures: set[concurrent.futures.Future[Any]] = set()
        #: Set by ``stop``: whatever the command hands the loop later is cancelled too.
        self.stopped = False

    def cancel(self) -> bool:
        found = bool(self.futures)
        for future in list(self.futures):
            future.cancel()
        return found

    def stop(self) -> None:
        """Cancel for good (``kill N``): now, and any coroutine handed over later."""
        self.stopped = True
        self.cancel()


@dataclass
class ShellRuntime(Runtime):
    """A lent runtime that records each coroutine it hands the loop, for ``Shell.interrupt``."""

    running: _Running = field(default_factory=_Running)

    def run(self, work: Callable[[], Coroutine[Any, Any, T]]) -> T:
        if self.loop is None:
            return super().run(work)
        if self.running.stopped:
            raise KeyboardInterrupt
        future = asyncio.run_coroutine_threadsafe(work(), self.loop)
        self.running.futures.add(future)
        if self.running.stopped:  # stopped while it was being handed over
            future.cancel()
        try:
            return future.result()
        except concurrent.futures.CancelledError:
            raise KeyboardInterrupt from None  # cli.run says "interrupted", exit 130
        except KeyboardInterrupt:
            future.cancel()
            raise
        finally:
            self.running.futures.discard(future)


class Shell:
    """One connection, the context, and the commands run on them (see the module doc)."""

    def __init__(self, settings: Settings, env: Environment, announce: bool = False) -> None:
        self.settings = settings
        self.env = env
        self.announce = announce
        self.session: Session | None = None
        self.loop: asyncio.AbstractEventLoop | None = None
        self.device: str | None = None
        self.service: str | None = None
        self.node: str | None = None
        self._tree: Any = None
        self.running = _Running()
        #: Called with the new Session each time one is opened (the REPL re-attaches).
        self.on_open: list[Callable[[Session], None]] = []
        self._reopening = asyncio.Lock()
        #: Root options given to ``xiot shell`` that every command inherits (``-o json``).
        self.inherited: list[str] = []
        self.jobs = Jobs(self)
        #: True when something else (the REPL's keeper) reopens a lost connection.
        self.kept_connected = False

    # ------------------------------------------------------------------ the connection

    async def open(self) -> None:
        """Log in once; with ``announce``, also read the roster and send presence."""
        from xiot.xmpp.session import Session

        self.loop = asyncio.get_running_loop()
        session = Session(self.settings)
        await session.open()
        self.session = session
        if self.announce:
            from xiot.presence.tracker import PresenceTracker

            await session.state(PresenceTracker).announce(self.settings.timeout)
        for callback in self.on_open:
            callback(session)

    async def reopen(self) -> None:
        """Replace a lost Session with a new one (raises ``ConnectError`` if it fails).

        The REPL's keeper and a command typed meanwhile may both ask; one reopens."""
        async with self._reopening:
            if self.connected:
                return
            if self.session is not None:
                await self.session.close()
                self.session = None
            await self.open()

    async def close(self) -> None:
        """Stop the background jobs still running (and say so), then log out."""
        stopped = await self.jobs.close()
        if stopped:
            self.env.say(f"stopped {stopped} background job{'s' if stopped > 1 else ''}")
        if self.session is not None:
            await self.session.close()
            self.session = None

    async def next_session(self) -> Session:
        """The Session after this one was lost, for a background watch to go on with.

        With a keeper (the REPL) it waits for the keeper's reconnection; in a script nobody
        else reconnects, so it reopens the connection itself, with jittered waits."""
        from xiot.backoff import delays

        for wait in delays(first=1.0, cap=15.0):
            if self.connected:
                break
            if not self.kept_connected:
                try:
                    await self.reopen()
                    continue
                except XiotError:
                    pass
            await asyncio.sleep(0.5 if self.kept_connected else wait)
        assert self.session is not None
        return self.session

    @property
    def connected(self) -> bool:
        return self.session is not None and self.session.lost is None

    def runtime(self) -> ShellRuntime:
        """The runtime one command borrows: this terminal, this Session, this loop."""
        assert self.session is not None and self.loop is not None
        return ShellRuntime(env=self.env, running=self.running).lend(self.session, self.loop)

    def interrupt(self) -> bool:
        """Cancel the running command (Ctrl-C); False if nothing was running."""
        return self.running.cancel()

    # ------------------------------------------------------------------ running commands

    async def execute(self, words: list[str]) -> int:
        """Run one command (built-in or xiot) and return its exit code; errors are said."""
        background = getattr(words, "background", False)
        try:
            if words[0] in BUILTINS:
                if background:
                    raise UsageError(f"'{words[0]}' is a shell command: it cannot run in the "
                                     "background", "Leave out the '&'")
                return await self._builtin(words[0], words[1:])
            if words[0] == "shell":
                raise UsageError("already in the shell", "Type the commands themselves")
            if not self.connected:
                self.env.say("connection lost; reconnecting")
                await self.reopen()
            if background:
                return self._start_job(list(words))
            return await self._xiot(self.with_context(words))
        except XiotError as exc:
            self.env.say(exc.one_line())
            return int(exc.exit_code)

    def _start_job(self, words: list[str]) -> int:
        from xiot import cli

        argv = self.with_context(words)
        self.jobs.start(argv, [*self.inherited, *argv], cli.run)
        return 0

    async def _xiot(self, argv: list[str]) -> int:
        from xiot import cli

        return await asyncio.to_thread(cli.run, [*self.inherited, *argv], self.runtime())

    def with_context(self, words: list[str]) -> list[str]:
        """``readout`` / ``control set ...`` get the ``use``d device when they name none;
        ``pubsub`` commands the service and the node (``cd``) when they name none."""
        if words[0] == "pubsub":
            return self._pubsub_context(words)
        if self.device is None or words[0] not in DEVICE_COMMANDS:
            return words
        rest = words[1:]
        if words[0] == "readout":
            given = any("@" in w or w in ("-f", "--from-file", "-h", "--help") for w in rest)
            return words if given else [words[0], self.device, *rest]
        if not rest or rest[0] in ("set", "form") or rest[0].startswith("-"):
            return [words[0], self.device, *rest]
        return words

    def _pubsub_context(self, words: list[str]) -> list[str]:
        if self.service is None and self.node is None:
            return words
        if self._tree is None:
            from xiot.shell.tree import CommandTree

            self._tree = CommandTree()
        path, command, given, _ = self._tree.walk(words)
        if any(w in ("-h", "--help") for w in words):
            return words
        at = words.index(path[-1]) + 1 if path else 1
        added: list[str] = []
        fixed = [a for a in _arguments(command) if a.nargs == 1]
        if (self.node is not None and fixed and fixed[0].name == "node"
                and path[-1] not in NO_NODE_CONTEXT and len(given) < len(fixed)):
            added.append(self.node)
        if self.service is not None and not {"--service", "--pep"} & {
                w.split("=", 1)[0] for w in words} and _has_option(command, "--service"):
            added = ["--service", self.service, *added]
        return [*words[:at], *added, *words[at:]]

    async def _builtin(self, name: str, args: list[str]) -> int:
        if name in ("exit", "quit"):
            raise EOFError
        if name == "help":
            code = await self._xiot([*args, "--help"])
            if not args:  # after the root help, so it is what a terminal still shows
                self.env.stdout.write("\n" + SHELL_HELP + "\n")
                self.env.stdout.flush()
            return code
        if name == "use":
            return self._use(args)
        if name == "cd":
            return self._cd(args)
        if name in ("jobs", "kill", "wait"):
            return await job_builtin(self, name, args)
        return await self._raw(args)

    def _use(self, args: list[str]) -> int:
        from xiot.xmpp.jid import parse_jid

        if len(args) > 1:
            raise UsageError("use takes one JID", "use dev1@example.org, or 'use -' to clear")
        if args and args[0] == "-":
            self.device = self.service = None
        elif args and "@" not in args[0]:
            self.service = str(parse_jid(args[0]))
        elif args:
            self.device = str(parse_jid(args[0]))
        self._show_context()
        return 0

    def _cd(self, args: list[str]) -> int:
        if len(args) > 1:
            raise UsageError("cd takes one node name", "cd sensors, or 'cd /' to clear")
        self.node = None if not args or args[0] == "/" else args[0]
        self._show_context()
        return 0

    def _show_context(self) -> None:
        shown = f"device: {self.device or '(none)'}"
        if self.service or self.node:
            shown += f"  service: {self.service or '(found on the server)'}"
            shown += f"  node: {self.node or '(none)'}"
        self.env.stdout.write(shown + "\n")
        self.env.stdout.flush()

    def context_text(self) -> str:
        """What the prompt shows: the device, and the pubsub service and node."""
        parts = [self.device] if self.device else []
        if self.service or self.node:
            parts.append(f"{self.service or ''}:{self.node or '/'}")
        return " ".join(parts)

    async def _raw(self, args: list[str]) -> int:
        from xiot.shell.raw import parse_stanza, send_raw

        timeout = self.settings.timeout
        if args[:1] == ["--timeout"] and len(args) > 1:
            try:
                timeout = float(args[1])
            except ValueError:
                raise UsageError(f"--timeout: '{args[1]}' is not a number") from None
            args = args[2:]
        if not args:
            raise UsageError("raw needs a stanza", "raw <presence/>")
        element = parse_stanza(" ".join(args))
        if not self.connected:
            await self.reopen()
        assert self.session is not None
        answer = await self.session.guard(send_raw(self.session, element, timeout))
        if answer is not None:
            self.env.stdout.write(answer + "\n")
            self.env.stdout.flush()
        return 0

    async def run_script(self, commands: list[list[str]]) -> int:
        """Run ``commands`` in order; stop at the first that fails, with its exit code."""
        for words in commands:
            try:
                code = await self.execute(words)
            except EOFError:
                return 0
            if code != 0:
                return code
        return 0


def _arguments(command: Any) -> list[Any]:
    return [p for p in getattr(command, "params", ()) if p.param_type_name == "argument"]


def _has_option(command: Any, name: str) -> bool:
    return any(p.param_type_name == "option" and name in p.opts
               for p in getattr(command, "params", ()))


def inherited_options(options: Any) -> list[str]:
    """The root options of ``xiot [OPTIONS] shell`` that shape each command's output (the
    connection ones are in the Session already); a command's own ``-o`` comes later and wins.
    """
    found: list[str] = ["-o", options.output] if options.output else []
    found += ["--no-color"] if options.no_color else []
    found += ["--debug"] if options.debug else []
    return found + ["-v"] * options.verbose
