"""``xiot replay record``: log in the actors, run what is typed or piped, write a scenario.

Each actor is one Session with a shell engine on it (``xiot.shell.engine.Shell``), so a line
is any shell command: ``raw <iq .../>``, ``readout dev1@x``, ``pubsub publish ...``, run as
that actor.  A journal (``xiot.replay.record``) sees every stanza each actor sends and
receives; the scenario (``xiot.replay.generalise``) is rewritten to the file whenever the
journal changed (at most once a second, and after every command), so Ctrl-C, a lost
connection or a killed terminal leave the recording made so far on disk.

Input lines: ``NAME: COMMAND`` runs COMMAND as actor NAME (a bare ``COMMAND`` as the first
actor); ``${NAME.full_jid}``, ``${NAME.jid}`` and ``${NAME.domain}`` are replaced first.  The
recorder's own words: ``wait SECONDS`` (let answers arrive), ``disconnect NAME``, ``actors``,
``help``.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
import secrets
import shutil
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from xiot.errors import ConnectError, UsageError, XiotError

if TYPE_CHECKING:
    from collections.abc import Callable

    from xiot.replay.generalise import ActorIdentity
    from xiot.replay.model import Actor
    from xiot.replay.record import Entry, Journal
    from xiot.replay.runner import Account
    from xiot.runtime import Runtime
    from xiot.shell.engine import Shell

__all__ = ["ActorSpec", "Recorder", "accounts_for", "feed", "parse_actor", "unique"]

RECORD_HELP = """\
Type a command per line ('NAME: COMMAND' for an actor other than the first):
  raw <iq type='get' id='r1'><query xmlns='jabber:iq:roster'/></iq>
  bob: raw <message to='${alice.full_jid}'><body>hi</body></message>
  readout dev0001@xiot.test        any xiot command, run as that actor
  wait 2                           let answers arrive before the next line
  disconnect bob                   the actor leaves (a 'disconnect' step)
  actors                           who is connected, as which JID
Ctrl-D ends the recording (Ctrl-C too: what was recorded is kept)."""

_PREFIX = re.compile(r"^\s*([A-Za-z_][\w-]*):\s+(.*)$", re.S)
_VARIABLE = re.compile(r"\$\{([A-Za-z_][\w-]*)\.(full_jid|jid|domain|user|resource)\}")
#: The longest a multi-line stanza may run before the recorder gives up on it.
_MAX_LINES = 500
_FLUSH_EVERY = 1.0
_PROMPT = "record> "


@dataclass(frozen=True)
class ActorSpec:
    """``--actor NAME[=PROFILE|account:USER]``: who an actor is, and its YAML fields."""

    name: str
    profile: str | None = None
    account: str | None = None

    def yaml_fields(self) -> dict[str, str]:
        """The actor in the scenario; a lab account names no lab, so the scenario replays
        on whichever lab ``replay run --lab`` (or the profile) picks."""
        if self.account:
            return {"account": self.account}
        return {"profile": self.profile} if self.profile else {}


def parse_actor(text: str) -> ActorSpec:
    """``alice``, ``alice=PROFILE`` or ``alice=account:dev0001``; exit 2 otherwise."""
    name, _, source = text.partition("=")
    if not re.fullmatch(r"[A-Za-z_][\w-]*", name):
        raise UsageError(f"--actor '{text}': the name must be a word (letters, digits, _ "
                         "and -)", "--actor alice=PROFILE or --actor dev=account:dev0001")
    if source.startswith("account:"):
        user = source.removeprefix("account:")
        if not user:
            raise UsageError(f"--actor '{text}': no account after 'account:'")
        return ActorSpec(name, account=user)
    if "=" in text and not source:
        raise UsageError(f"--actor '{text}': no profile after '='")
    return ActorSpec(name, profile=source or None)


class Recorder:
    """One recording: the actors' Sessions and shells, the journal, the file."""

    def __init__(self, rt: Runtime, accounts: dict[str, Account], specs: list[ActorSpec],
                 output: Path, name: str, settle: float) -> None:
        from xiot.replay.record import Journal

        self.rt = rt
        self.accounts = accounts
        self.specs = specs
        self.output = output
        self.name = name
        self.settle = settle
        self.journal: Journal = Journal()
        self.shells: dict[str, Shell] = {}
        self.identities: list[ActorIdentity] = []
        self._written = -1
        self._said_full = False
        self._said_lost: set[str] = set()
        self._prompting = False
        self.started = time.strftime("%Y-%m-%d %H:%M:%S %Z")

    # ------------------------------------------------------------------ the whole run

    async def run(self, lines: asyncio.Queue[str | None]) -> int:
        """Connect, run the input, write the scenario whatever happens; the exit code."""
        try:
            await self._connect_all()
            flusher = asyncio.create_task(self._flush_loop())
            try:
                code = await self._commands(lines)
                if self.settle:
                    await asyncio.sleep(self.settle)
            finally:
                flusher.cancel()
        finally:
            await self._close_all()
            self.write()
            self._summary()
        return code

    async def _connect_all(self) -> None:
        from xiot.replay.generalise import ActorIdentity

        token = secrets.token_hex(2)
        sessions = await asyncio.gather(*(self._open(spec, token) for spec in self.specs),
                                        return_exceptions=True)
        failed = next((s for s in sessions if isinstance(s, BaseException)), None)
        if failed is not None:
            for session in sessions:
                if not isinstance(session, BaseException):
                    await session.close()
            raise failed
        for spec, session in zip(self.specs, sessions, strict=True):
            assert not isinstance(session, BaseException)
            self.journal.attach(session, spec.name)
            self.shells[spec.name] = self._shell(spec, session)
            self.identities.append(ActorIdentity(spec.name, spec.yaml_fields(),
                                                 str(session.client.boundjid.full)))
        if self.rt.env.stderr_isatty:
            self.journal.listener = self._echo

    async def _open(self, spec: ActorSpec, token: str) -> Any:
        from xiot.xmpp.session import Session

        account = self.accounts[spec.name]
        bare = (account.settings.jid or "").split("/", 1)[0]
        settings = account.settings.with_jid(f"{bare}/record-{spec.name}-{token}")
        session = Session(settings, password=account.password)
        await session.open()
        return session

    def _shell(self, spec: ActorSpec, session: Any) -> Shell:
        from xiot.shell.engine import Shell, inherited_options

        shell = Shell(session.settings, self.rt.env)
        shell.session, shell.loop = session, asyncio.get_running_loop()
        shell.inherited = inherited_options(self.rt.options)
        return shell

    async def _close_all(self) -> None:
        shells, self.shells = list(self.shells.values()), {}
        await asyncio.gather(*(s.close() for s in shells), return_exceptions=True)

    # ------------------------------------------------------------------ the input

    async def _commands(self, lines: asyncio.Queue[str | None]) -> int:
        """Run each command; in a script, stop at the first that fails (its exit code)."""
        interactive = self.rt.env.stdin_isatty
        if interactive:
            self.rt.env.say(f"recording {', '.join(self._actor_names())} to {self.output}; "
                            "'help' for what to type, Ctrl-D to finish")
        while True:
            if interactive:
                self.rt.env.stderr.write(_PROMPT)
                self.rt.env.stderr.flush()
            self._prompting = interactive
            text = await self._logical_line(lines)
            self._prompting = False
            if text is None:
                return 0
            try:
                code = await self._one(text)
            except XiotError as exc:
                self.rt.env.say(exc.one_line())
                code = int(exc.exit_code)
            self.write()
            if code and not interactive:
                return code

    async def _logical_line(self, lines: asyncio.Queue[str | None]) -> str | None:
        """One command's text: a stanza may run over several lines until it is complete."""
        from xiot.shell.script import split_line

        text = ""
        for _ in range(_MAX_LINES):
            line = await lines.get()
            if line is None:
                if text.strip():
                    raise UsageError("the input ends inside an unfinished stanza or quote")
                return None
            text += line if line.endswith("\n") else line + "\n"
            if not text.strip() or text.lstrip().startswith("#"):
                text = ""
                continue
            try:
                split_line(_PREFIX.sub(r"\2", text))
            except ValueError:
                continue
            return text
        raise UsageError(f"a command ran over {_MAX_LINES} lines", "Close the stanza")

    async def _one(self, text: str) -> int:
        from xiot.shell.script import split_line

        actor, text = self._actor_of(text)
        text = _VARIABLE.sub(self._variable, text)
        code = 0
        for words in split_line(text):
            code = await self._word(actor, words)
            if code:
                break
        return code

    def _actor_of(self, text: str) -> tuple[str, str]:
        found = _PREFIX.match(text)
        if found and found.group(1) in self.accounts:
            return found.group(1), found.group(2)
        if found and not found.group(2).lstrip().startswith("<"):
            raise UsageError(f"no actor '{found.group(1)}'",
                             f"Actors: {', '.join(self._actor_names())}")
        return self.specs[0].name, text

    def _variable(self, found: re.Match[str]) -> str:
        identity = next((i for i in self.identities if i.name == found.group(1)), None)
        if identity is None:
            raise UsageError(f"${{{found.group(1)}.{found.group(2)}}}: no such actor")
        bare = identity.bare
        return {"full_jid": identity.full_jid, "jid": bare, "domain": identity.domain,
                "user": bare.partition("@")[0],
                "resource": identity.full_jid.partition("/")[2]}[found.group(2)]

    async def _word(self, actor: str, words: list[str]) -> int:
        head, args = words[0], words[1:]
        if head == "help":
            self.rt.env.stdout.write(RECORD_HELP + "\n")
            self.rt.env.stdout.flush()
            return 0
        if head == "wait":
            await asyncio.sleep(_seconds(args))
            return 0
        if head == "actors":
            for identity in self.identities:
                state = "connected" if identity.name in self.shells else "disconnected"
                self.rt.env.stdout.write(f"{identity.name}\t{identity.full_jid}\t{state}\n")
            self.rt.env.stdout.flush()
            return 0
        if head == "disconnect":
            return await self._disconnect(args)
        shell = self.shells.get(actor)
        if shell is None:
            raise UsageError(f"{actor} has disconnected", "Commands of other actors still run")
        if not shell.connected:
            raise ConnectError(f"{actor}'s connection was lost; what was recorded until then "
                               f"is in {self.output}")
        return await shell.execute(words)

    async def _disconnect(self, args: list[str]) -> int:
        if len(args) != 1 or args[0] not in self.accounts:
            raise UsageError("disconnect takes an actor's name",
                             f"Actors: {', '.join(self._actor_names())}")
        shell = self.shells.pop(args[0], None)
        if shell is not None:
            await shell.close()
            self.journal.add(args[0], "disconnect")
        return 0

    def _actor_names(self) -> list[str]:
        return [spec.name for spec in self.specs]

    # ------------------------------------------------------------------ the file

    async def _flush_loop(self) -> None:
        while True:
            await asyncio.sleep(_FLUSH_EVERY)
            self.write()
            self._say_trouble()

    def _say_trouble(self) -> None:
        for name, shell in self.shells.items():
            if not shell.connected and name not in self._said_lost:
                self._said_lost.add(name)
                self.rt.env.say(f"{name}'s connection was lost; the recording so far is in "
                                f"{self.output}")
        if self.journal.full and not self._said_full:
            self._said_full = True
            self.rt.env.say(f"the recording holds {self.journal.limit} stanzas, its limit; "
                            "later ones are not recorded")

    def write(self) -> None:
        """The scenario so far, written whole (atomically) if the journal changed."""
        from xiot.replay.generalise import scenario_text

        version = self.journal.version
        if version == self._written or not self.identities:
            return
        header = (f"Recorded by 'xiot replay record' on {self.started}.\n"
                  "JIDs are variables; ids, times and other values that change from run to "
                  "run are {any}\nor captures; passwords and tokens are REDACTED.")
        text = scenario_text(self.journal.entries(), self.identities, self.name, header)
        _write_atomically(self.output, text)
        self._written = version

    def _summary(self) -> None:
        count = self.journal.stanzas()
        self.rt.env.say(f"recorded {count} stanza{'s' if count != 1 else ''} of "
                        f"{len(self.identities)} actor{'s' if len(self.identities) != 1 else ''}"
                        f" to {self.output}")

    def _echo(self, entry: Entry) -> None:
        """What was just recorded, one short line on stderr (a person is watching)."""
        from xiot.replay.match import render

        if entry.element is None:
            return
        arrow = "->" if entry.direction == "send" else "<-"
        line = f"  {entry.actor} {arrow} {render(entry.element).splitlines()[0]}"
        width = self.rt.env.width or shutil.get_terminal_size().columns
        if len(line) > width - 1:
            line = line[:width - 2] + "…"
        # Over the waiting prompt, which is shown again below the line.
        again = f"\r\x1b[K{line}\n{_PROMPT}" if self._prompting else f"{line}\n"
        self.rt.env.stderr.write(again)
        self.rt.env.stderr.flush()


def _seconds(args: list[str]) -> float:
    try:
        seconds = float(args[0]) if len(args) == 1 else -1.0
    except ValueError:
        seconds = -1.0
    if not 0 <= seconds <= 600:
        raise UsageError("wait takes a number of seconds, 0 to 600", "wait 1.5")
    return seconds


def _write_atomically(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    temporary.write_text(text, encoding="utf-8")
    os.replace(temporary, path)


def feed(stream: Any, loop: asyncio.AbstractEventLoop) -> asyncio.Queue[str | None]:
    """Lines of ``stream`` on a queue, read by a daemon thread (Ctrl-C never waits on it);
    None at the end."""
    queue: asyncio.Queue[str | None] = asyncio.Queue()

    def read() -> None:
        with contextlib.suppress(OSError, ValueError, RuntimeError):
            for line in stream:
                loop.call_soon_threadsafe(queue.put_nowait, line)
        with contextlib.suppress(RuntimeError):  # the loop has closed: nobody is reading
            loop.call_soon_threadsafe(queue.put_nowait, None)

    threading.Thread(target=read, name="xiot-record-input", daemon=True).start()
    return queue


def accounts_for(specs: list[ActorSpec], resolve: Callable[[Any, Actor], Account]
                 ) -> dict[str, Account]:
    """Each actor's account, through the same resolution as ``replay run``."""
    from xiot.replay.model import Actor, Scenario

    actors = tuple(Actor(spec.name, "--actor", 0, profile=spec.profile, account=spec.account)
                   for spec in specs)
    scenario = Scenario("recording", "--actor", 0, actors, ())
    return {actor.name: resolve(scenario, actor) for actor in actors}


def unique(specs: list[ActorSpec]) -> list[ActorSpec]:
    names = [spec.name for spec in specs]
    twice = sorted({n for n in names if names.count(n) > 1})
    if twice:
        raise UsageError(f"--actor {twice[0]} is given twice", "Give each actor its own name")
    return specs

