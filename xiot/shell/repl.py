"""The interactive prompt: prompt_toolkit on the loop that owns the shell's Session.

Each line is split like a script line (``script.split_line``), an unfinished quote or stanza
asks for a continuation line, and each command runs through ``Shell.execute`` while the
prompt waits.  Events (presence changes of contacts, messages and PubSub notifications, the
connection going and coming back)
are printed above the prompt by ``patch_stdout``, so a half-typed line survives them, and so
are the lines of background jobs (``jobs``).  The bottom toolbar shows who we are connected
as, or that the connection is lost, how many roster contacts are online and how many jobs
run.  A lost connection is reopened in the background with jittered
waits; the prompt stays where it is.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
import sys
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

from xiot.runtime import Environment
from xiot.shell.engine import Shell, inherited_options
from xiot.shell.script import split_line

if TYPE_CHECKING:
    from xiot.config import Settings
    from xiot.runtime import Runtime
    from xiot.xmpp.session import Session


def interactive(settings: Settings, rt: Runtime) -> int:
    """Run the prompt until Ctrl-D or ``exit``; the exit code is 0 (errors were shown)."""
    return rt.run(lambda: _main(settings, rt))


def history_path() -> Any:
    from xiot.paths import state_dir

    path = state_dir() / "history"
    path.parent.mkdir(parents=True, exist_ok=True)
    return path


@contextlib.contextmanager
def _logging_above_prompt() -> Iterator[None]:
    """Point the log handlers made at start-up (the Session's own warnings, such as a lost
    connection) at the stderr ``patch_stdout`` installed, so that they too are printed above
    the prompt instead of onto the line being typed; put them back afterwards."""
    moved: list[tuple[logging.StreamHandler[Any], Any]] = []
    for name in ("xiot", ""):
        for handler in logging.getLogger(name).handlers:
            if type(handler) is logging.StreamHandler:
                moved.append((handler, handler.stream))
                handler.setStream(sys.stderr)
    try:
        yield
    finally:
        for handler, stream in moved:
            handler.setStream(stream)


async def _main(settings: Settings, rt: Runtime) -> int:
    from prompt_toolkit import PromptSession
    from prompt_toolkit.history import FileHistory
    from prompt_toolkit.patch_stdout import patch_stdout

    from xiot.shell.completion import ShellCompleter
    from xiot.shell.events import print_messages
    from xiot.shell.learned import Learned

    with patch_stdout(raw=True), _logging_above_prompt():
        env = Environment(stdin=sys.stdin, stdout=sys.stdout, stderr=sys.stderr,
                          stdout_isatty=rt.env.stdout_isatty,
                          stderr_isatty=rt.env.stderr_isatty, stdin_isatty=True,
                          no_color=rt.no_color, width=rt.env.width)
        shell = Shell(settings, env, announce=True)
        shell.kept_connected = True  # by _keep_connected, below
        shell.inherited = inherited_options(rt.options)
        learned = Learned()
        shell.on_open.append(learned.attach)
        shell.on_open.append(lambda session: _background(
            _print_presence_changes(session, env, settings.timeout)))
        shell.on_open.append(lambda session: print_messages(session, shell, env))
        await shell.open()
        env.say(f"connected as {shell.session.client.boundjid if shell.session else '?'}; "
                "'help' lists commands, Tab completes, Ctrl-D leaves")
        prompt: PromptSession[str] = PromptSession(
            history=FileHistory(str(history_path())),
            completer=ShellCompleter(shell, learned=learned),
            complete_while_typing=False, bottom_toolbar=lambda: toolbar(shell),
            refresh_interval=0.5)
        keeper = asyncio.ensure_future(_keep_connected(shell))
        try:
            await _loop(shell, prompt)
        finally:
            keeper.cancel()
            await shell.close()
    return 0


async def _loop(shell: Shell, prompt: Any) -> None:
    while True:
        try:
            commands = await _read(shell, prompt)
        except KeyboardInterrupt:
            continue  # Ctrl-C at the prompt drops the line, as in a shell
        except EOFError:
            return
        for words in commands:
            try:
                await _interruptible(shell, words)
            except EOFError:
                return


async def _read(shell: Shell, prompt: Any) -> list[list[str]]:
    """One command line, with continuation lines while a quote or a stanza is open."""
    text = await prompt.prompt_async(prompt_text(shell))
    while True:
        try:
            return split_line(text)
        except ValueError:
            text += "\n" + await prompt.prompt_async("... ")


async def _interruptible(shell: Shell, words: list[str]) -> int:
    """Run one command; Ctrl-C cancels it (and only it) and the prompt comes back."""
    loop = asyncio.get_running_loop()
    task = asyncio.ensure_future(shell.execute(words))

    def on_sigint() -> None:
        if not shell.interrupt():
            task.cancel()

    loop.add_signal_handler(signal.SIGINT, on_sigint)
    try:
        return await task
    except asyncio.CancelledError:
        if not task.cancelled():
            raise
        shell.env.say("interrupted")
        return 130
    finally:
        loop.remove_signal_handler(signal.SIGINT)


_TASKS: set[asyncio.Task[Any]] = set()


def _background(coroutine: Any) -> None:
    """Run ``coroutine`` beside the prompt, keeping a reference until it ends."""
    task = asyncio.ensure_future(coroutine)
    _TASKS.add(task)
    task.add_done_callback(_TASKS.discard)


def prompt_text(shell: Shell) -> str:
    context = shell.context_text()
    return f"xiot {context}> " if context else "xiot> "


def toolbar(shell: Shell) -> str:
    """Connection state, presence counts and running jobs, read from memory (no network)."""
    session = shell.session
    if session is None or session.lost is not None:
        parts = [" connection lost: reconnecting"]
    else:
        parts = [f" connected as {session.client.boundjid}"]
        online, offline = presence_counts(session)
        if online is not None:
            parts.append(f"{online} online, {offline} offline")
        if shell.device:
            parts.append(f"device {shell.device}")
    running = len(shell.jobs.running())
    if running:
        parts.append(f"{running} job{'s' if running > 1 else ''} running")
    return " | ".join(parts)


def presence_counts(session: Session) -> tuple[int | None, int | None]:
    """(online, offline) roster contacts, or (None, None) before the roster is known."""
    from xiot.presence.tracker import PresenceTracker

    if not session.has_state(PresenceTracker):
        return None, None
    tracker = session.state(PresenceTracker)
    if tracker.roster is None:
        return None, None
    contacts = tracker.roster.items
    online = sum(1 for jid in contacts if tracker.contacts.get(jid))
    return online, len(contacts) - online


async def _print_presence_changes(session: Session, env: Environment, timeout: float) -> None:
    """Contacts coming and going, one line each, above the prompt.

    Only once the view has settled: the answers to our initial presence are the state we
    start from (the toolbar counts them), not changes worth a line each."""
    import time

    from xiot.presence.tracker import PresenceTracker

    def show(change: Any) -> None:
        if change.event != "change" or change.state == change.previous:
            return
        env.stdout.write(f"* {change.jid} is {change.state} (was {change.previous})\n")
        env.stdout.flush()

    tracker = session.state(PresenceTracker)
    await tracker.wait_settled(time.monotonic() + timeout, quiet=1.0)
    if session.lost is None:
        tracker.listen(show)


async def _keep_connected(shell: Shell, poll: float = 0.5) -> None:
    """Notice a lost stream and reopen it with growing, jittered waits."""
    from xiot.backoff import delays
    from xiot.errors import XiotError

    while True:
        await asyncio.sleep(poll)
        if shell.connected or shell.running.futures:
            continue
        shell.env.say("connection lost; reconnecting")
        for wait in delays(first=1.0, cap=15.0):
            try:
                await shell.reopen()
            except XiotError as exc:
                shell.env.say(f"{exc.message}; retrying in {wait:.1f} s")
                await asyncio.sleep(wait)
                continue
            shell.env.say("reconnected")
            break
