"""Option definitions shared by every command: one name, one meaning, one metavar.

The shell will freeze this grammar (it runs the same commands), so the rules live here:

* ``-f/--from-file FILE`` reads targets from a file (``-`` for stdin) wherever a command
  takes a list of targets;
* ``--watch SECONDS`` repeats until Ctrl-C, ``--rounds N`` stops a watch after N rounds; both
  default to "not given" (None) everywhere;
* ``--from``/``--to`` are times (ISO 8601 or ``-24h``), nothing else;
* comma-separated lists (``--fields``, ``--types``, ``--only``, ``--kinds``...) are parsed by
  one parameter type, ``CommaList``, into a tuple of non-empty names;
* ``-k/--concurrency`` bounds how many targets are worked on at once.
"""

from __future__ import annotations

from typing import Any

import typer

try:  # typer >= 0.26 vendors click; its classes are the ones typer uses
    from typer._click.types import ParamType
except ImportError:  # pragma: no cover - older typer uses the click package
    from click import ParamType  # type: ignore[no-redef]


class CommaList(ParamType):  # type: ignore[misc]
    """``a,b, c`` -> ``("a", "b", "c")``; empty names are dropped, order and case kept."""

    name = "list"

    def convert(self, value: Any, param: Any, ctx: Any) -> tuple[str, ...]:
        if isinstance(value, tuple):
            return value
        return tuple(part.strip() for part in str(value).split(",") if part.strip())


def comma_list(*names: str, help: str, metavar: str = "A,B,...", **kwargs: Any) -> Any:
    """A comma-separated list option: a tuple of names, ``None`` when not given.

    Annotate the parameter as ``str | None`` (typer reads a tuple annotation as a fixed
    number of arguments); the value it receives is the tuple.
    """
    return typer.Option(None, *names, help=help, metavar=metavar, click_type=CommaList(),
                        show_default=False, **kwargs)


def from_file(what: str = "JIDs") -> Any:
    """``-f/--from-file FILE``: targets from a file, ``-`` for stdin."""
    return typer.Option(None, "-f", "--from-file", metavar="FILE",
                        help=f"Read {what} from FILE ('-': stdin).", show_default=False)


def watch() -> Any:
    """``--watch SECONDS``: repeat until Ctrl-C."""
    return typer.Option(None, "--watch", min=0.5, metavar="SECONDS", show_default=False,
                        help="Repeat every SECONDS until Ctrl-C (or --rounds).")


def rounds() -> Any:
    """``--rounds N``: with --watch, stop after N rounds."""
    return typer.Option(None, "--rounds", min=1, metavar="N", show_default=False,
                        help="With --watch: stop after N rounds; the exit status is 1 if "
                        "any round failed.")


def concurrency(default: int, maximum: int, what: str) -> Any:
    """``-k/--concurrency N``: how many targets are worked on at once."""
    return typer.Option(default, "-k", "--concurrency", min=1, max=maximum, metavar="N",
                        help=f"{what} at once.")


def node() -> Any:
    """``--node ID`` (repeatable): nodes behind a concentrator (XEP-0326)."""
    return typer.Option(None, "--node", metavar="ID", show_default=False,
                        help="Node behind a concentrator (repeatable).")


def check_watch(watch_seconds: float | None, rounds_count: int | None) -> None:
    """``--rounds`` without ``--watch`` is a usage error, not a silent no-op."""
    if rounds_count is not None and watch_seconds is None:
        from xiot.errors import UsageError

        raise UsageError("--rounds needs --watch", "For example: --watch 10 --rounds 6")


def complete_jids(incomplete: str) -> list[str]:
    """Device JIDs for tab completion, from the labs on this machine: files only, no network.

    A shell's Tab must answer at once and offline; the labs' account lists are on disk (the
    interactive ``xiot shell`` adds the live roster on top).  Completion never prints an
    error into the user's shell.
    """
    try:
        from xiot.lab import manager

        found = {account.jid for lab in manager.all_labs() for account in manager.accounts(lab)
                 if account.role == "device"}
    except Exception:  # a broken lab directory completes nothing
        return []
    return sorted(jid for jid in found if jid.startswith(incomplete))
