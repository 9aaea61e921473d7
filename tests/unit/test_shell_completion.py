"""Tab completion in the shell: the command tree, and JIDs held in memory (no network)."""

from __future__ import annotations

from types import SimpleNamespace

from prompt_toolkit.document import Document

from xiot.presence.tracker import PresenceTracker
from xiot.shell.completion import ShellCompleter


class _Session:
    """Just what completion reads: the tracker's roster and resources."""

    def __init__(self, roster: list[str], online: dict[str, list[str]]) -> None:
        self.tracker = SimpleNamespace(
            roster=SimpleNamespace(items=dict.fromkeys(roster)),
            contacts={jid: dict.fromkeys(resources) for jid, resources in online.items()},
            presences=len(online))

    def has_state(self, kind: type) -> bool:
        return kind is PresenceTracker

    def state(self, kind: type) -> object:
        return self.tracker


def _offered(completer: ShellCompleter, text: str) -> list[str]:
    document = Document(text, len(text))
    return [c.text for c in completer.get_completions(document, None)]


def _completer(session: _Session | None = None) -> ShellCompleter:
    return ShellCompleter(SimpleNamespace(session=session))  # type: ignore[arg-type]


def test_commands_subcommands_options_and_choices():
    completer = _completer()
    assert _offered(completer, "re") == ["readout", "replay"]
    assert "use" in _offered(completer, "") and "ping" in _offered(completer, "")
    assert {"list", "create", "publish"} <= set(_offered(completer, "pubsub "))
    assert set(_offered(completer, "readout --f")) == {"--fields", "--from", "--from-file"}
    assert _offered(completer, "ping -o js") == ["json"]
    assert _offered(completer, "control dev1@x.org ") == ["set", "form"]
    assert _offered(completer, "help pi") == ["ping"]
    assert _offered(completer, "ping; rea") == ["readout"]


def test_jids_come_from_the_roster_and_presence_of_the_live_session():
    session = _Session(["dev1@x.org", "dev2@x.org", "admin@x.org"], {"dev1@x.org": ["sim"]})
    completer = _completer(session)
    assert _offered(completer, "readout dev") == ["dev1@x.org", "dev1@x.org/sim", "dev2@x.org"]
    assert _offered(completer, "readout dev1@x.org dev2") == ["dev2@x.org"]  # many JIDs
    assert _offered(completer, "control ad") == ["admin@x.org"]
    assert _offered(completer, "use dev2") == ["dev2@x.org"]
    assert _offered(completer, "--jid adm") == ["admin@x.org"]
    # a new presence is offered at the next Tab
    session.tracker.contacts["dev2@x.org"] = {"lamp": None}
    session.tracker.presences += 1
    assert "dev2@x.org/lamp" in _offered(completer, "ping dev2")


def test_no_session_completes_no_jids_and_does_not_fail():
    assert _offered(_completer(None), "readout dev") == []
