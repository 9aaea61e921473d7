"""Tab completion in the shell: the click command tree, JIDs and PubSub node names.

Everything offered is read from memory: the command tree (lazy groups are imported once, on
first use, and kept), and the roster and presence the Session's tracker already holds, which
the server pushes to us.  So a Tab never waits on the network.  The JID list is rebuilt only
when the tracker has seen new presence or a new roster since the last Tab.  Node names come
from the service's disco#items, fetched in the background on the shell's loop when a Tab
first asks (or the list is a minute old); that Tab offers what is known, the next one more.
"""

from __future__ import annotations

import asyncio
import shlex
import time
from collections.abc import Iterable, Iterator
from typing import TYPE_CHECKING, Any

from prompt_toolkit.completion import Completer, Completion

from xiot.shell.engine import BUILTINS
from xiot.shell.learned import Learned
from xiot.shell.tree import CommandTree, arguments

if TYPE_CHECKING:
    from xiot.shell.engine import Shell

#: Options whose value is a JID (besides arguments named like ``jid``).
JID_OPTIONS = {"--jid", "--to", "--from-jid", "--service", "--device"}


class JidCache:
    """Bare and full JIDs the session knows of, rebuilt only when presence or roster changed."""

    def __init__(self) -> None:
        self._key: Any = None
        self._jids: list[str] = []

    def jids(self, session: Any) -> list[str]:
        from xiot.presence.tracker import PresenceTracker

        if session is None or not session.has_state(PresenceTracker):
            return self._jids  # what we knew before a reconnect
        tracker = session.state(PresenceTracker)
        key = (id(tracker), tracker.presences, id(tracker.roster))
        if key != self._key:
            found = set(tracker.roster.items) if tracker.roster else set()
            for bare, resources in tracker.contacts.items():
                found.add(bare)
                found.update(f"{bare}/{resource}" for resource in resources if resource)
            self._jids = sorted(found)
            self._key = key
        return self._jids


class NodeCache:
    """Node names per (connection, service), refreshed in the background."""

    TTL = 60.0

    def __init__(self) -> None:
        self._names: dict[tuple[int, str | None], tuple[float, list[str]]] = {}
        self._pending: set[tuple[int, str | None]] = set()

    def nodes(self, shell: Any) -> list[str]:
        session = getattr(shell, "session", None)
        if session is None or getattr(shell, "loop", None) is None:
            return []
        key = (id(session), shell.service)
        entry = self._names.get(key)
        stale = entry is None or time.monotonic() - entry[0] > self.TTL
        if stale and key not in self._pending and session.lost is None:
            self._pending.add(key)
            asyncio.run_coroutine_threadsafe(self._fetch(session, shell.service, key),
                                             shell.loop)
        return entry[1] if entry else []

    async def _fetch(self, session: Any, service: str | None, key: Any) -> None:
        from xiot.errors import XiotError
        from xiot.pubsub.core import target
        from xiot.pubsub.nodes import list_nodes

        names: list[str] = []
        try:
            where = await target(session, service, False)
            names = sorted(entry.node for entry in await list_nodes(session, where))
        except (XiotError, OSError):
            pass  # no service, or it refused: complete no nodes rather than fail a Tab
        finally:
            self._pending.discard(key)
        self._names[key] = (time.monotonic(), names)


class ShellCompleter(Completer):
    """Commands, subcommands, options, choices and JIDs for the word under the cursor."""

    def __init__(self, shell: Shell | None, tree: CommandTree | None = None,
                 learned: Learned | None = None) -> None:
        self.shell = shell
        self.learned = learned or Learned()
        self.tree = tree or CommandTree()
        self.jid_cache = JidCache()
        self.node_cache = NodeCache()

    def get_completions(self, document: Any, complete_event: Any) -> Iterator[Completion]:
        before = document.text_before_cursor
        words = _words(before.rsplit(";", 1)[-1])
        incomplete = "" if not words or before.endswith((" ", "\t")) else words.pop()
        for text, meta in self.candidates(words, incomplete):
            yield Completion(text, start_position=-len(incomplete), display_meta=meta)

    def candidates(self, words: list[str], incomplete: str) -> Iterable[tuple[str, str]]:
        """(completion, description) pairs for ``incomplete`` after the typed ``words``."""
        from xiot.cli import COMMANDS

        if words[:1] == ["xiot"]:
            words = words[1:]
        if not words:
            names = [(n, h) for n, (_, h) in COMMANDS.items()] + [(b, "shell") for b in BUILTINS]
            return _matching(sorted(names), incomplete)
        if words[0] in ("use",):
            return self._jids(incomplete)
        if words[0] == "help":
            return self.candidates(words[1:], incomplete)
        if words[0] == "raw":
            return []
        if words[0] in ("kill", "wait"):
            return self._job_ids(words[0], incomplete)
        if words[0] == "cd":
            return self._nodes(incomplete) if len(words) == 1 else []
        return self._in_command(words, incomplete)

    def _in_command(self, words: list[str], incomplete: str) -> Iterable[tuple[str, str]]:
        path, command, given, value_of = self.tree.walk(words)
        positionals = len(given)
        if value_of is not None:
            if "--fields" in value_of.opts:
                return self._learned("fields", self._devices(path, given), incomplete, ",")
            return self._values(value_of, incomplete)
        if path == ("control", "set") and not incomplete.startswith("-"):
            return self._learned("parameters", self._devices(path, words[1:2]), incomplete,
                                 suffix="=")
        if path[:1] == ("pubsub",) and positionals == 0 and not incomplete.startswith("-") \
                and any(a.name == "node" for a in arguments(command)[:1]):
            return self._nodes(incomplete)
        if incomplete.startswith("-"):
            return _matching(_options(command) + _options(self.tree.root), incomplete)
        offered: list[tuple[str, str]] = []
        if (positionals == 0 or _takes_many_jids(command)) and _takes_jid(command):
            offered += self._jids(incomplete)
        if not _takes_jid(command) or positionals > 0:
            offered += _matching([(n, "") for n in self.tree.subcommands(command)], incomplete)
        return offered

    def _values(self, option: Any, incomplete: str) -> Iterable[tuple[str, str]]:
        choices = getattr(option.type, "choices", None)
        if choices:
            return _matching([(str(c), "") for c in choices], incomplete)
        if set(option.opts) & JID_OPTIONS:
            return self._jids(incomplete)
        if option.metavar in ("NODE", "COLLECTION"):
            return self._nodes(incomplete)
        return []

    def _devices(self, path: tuple[str, ...], given: list[str]) -> list[str]:
        devices = [w for w in given if "@" in w]
        device = getattr(self.shell, "device", None)
        return devices or ([device] if device and path[:1] in (("readout",), ("control",))
                           else [])

    def _learned(self, kind: str, devices: list[str], incomplete: str, separator: str = "",
                 suffix: str = "") -> list[tuple[str, str]]:
        """Names seen in earlier answers; after ``separator`` (a comma list) the last item."""
        done, _, last = incomplete.rpartition(separator) if separator else ("", "", incomplete)
        head = done + separator if done else ""
        return [(head + name + suffix, kind[:-1]) for name in self.learned.names(kind, devices)
                if name.startswith(last)]

    def _job_ids(self, builtin: str, incomplete: str) -> list[tuple[str, str]]:
        """Running jobs' numbers (as typed: ``1`` or ``%1``), and ``wait``'s option."""
        table = getattr(self.shell, "jobs", None)
        jobs = table.running() if table is not None else []
        mark = "%" if incomplete.startswith("%") else ""
        offered = [(f"{mark}{job.id}", job.command) for job in jobs]
        if builtin == "wait":
            offered.append(("--timeout", "seconds to wait at most"))
        return _matching(offered, incomplete)

    def _nodes(self, incomplete: str) -> list[tuple[str, str]]:
        return [(n, "node") for n in self.node_cache.nodes(self.shell) if n.startswith(incomplete)]

    def _jids(self, incomplete: str) -> list[tuple[str, str]]:
        session = self.shell.session if self.shell is not None else None
        return [(jid, "") for jid in self.jid_cache.jids(session) if jid.startswith(incomplete)]


def _words(text: str) -> list[str]:
    try:
        return shlex.split(text)
    except ValueError:  # an open quote: complete the last plain word anyway
        return text.split()


def _matching(pairs: Iterable[tuple[str, str]], incomplete: str) -> list[tuple[str, str]]:
    return [(text, meta) for text, meta in pairs if text.startswith(incomplete)]


def _options(command: Any) -> list[tuple[str, str]]:
    found = []
    for param in getattr(command, "params", ()):
        if param.param_type_name != "option" or getattr(param, "hidden", False):
            continue
        for name in (*param.opts, *param.secondary_opts):
            if name.startswith("--") or len(param.opts) == 1:
                found.append((name, (param.help or "").split(". ")[0]))
    return found


def _jid_arguments(command: Any) -> list[Any]:
    return [p for p in getattr(command, "params", ())
            if p.param_type_name == "argument" and "jid" in (p.name or "")]


def _takes_jid(command: Any) -> bool:
    return bool(_jid_arguments(command))


def _takes_many_jids(command: Any) -> bool:
    return any(p.nargs == -1 for p in _jid_arguments(command))
