"""Tab completion in the shell: the click command tree, and JIDs from the live session.

Everything offered is read from memory: the command tree (lazy groups are imported once, on
first use, and kept), and the roster and presence the Session's tracker already holds, which
the server pushes to us.  So a Tab never waits on the network.  The JID list is rebuilt only
when the tracker has seen new presence or a new roster since the last Tab.
"""

from __future__ import annotations

import shlex
from collections.abc import Iterable, Iterator
from typing import TYPE_CHECKING, Any

from prompt_toolkit.completion import Completer, Completion

from xiot.shell.engine import BUILTINS
from xiot.shell.tree import CommandTree

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


class ShellCompleter(Completer):
    """Commands, subcommands, options, choices and JIDs for the word under the cursor."""

    def __init__(self, shell: Shell | None, tree: CommandTree | None = None) -> None:
        self.shell = shell
        self.tree = tree or CommandTree()
        self.jid_cache = JidCache()

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
        return self._in_command(words, incomplete)

    def _in_command(self, words: list[str], incomplete: str) -> Iterable[tuple[str, str]]:
        _, command, given, value_of = self.tree.walk(words)
        positionals = len(given)
        if value_of is not None:
            return self._values(value_of, incomplete)
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
        return []

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
