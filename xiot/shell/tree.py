"""The xiot click command tree, as the shell reads it for completion and context.

Lazy command groups are imported once, on first use, and kept, so a Tab or a context look-up
costs a dictionary look-up after the first time.  No prompt_toolkit here: ``xiot shell -c``
uses this too.
"""

from __future__ import annotations

from typing import Any


class CommandTree:
    """The xiot click commands, resolved lazily and cached by path."""

    def __init__(self) -> None:
        import typer

        from xiot import cli

        self.click = cli.click
        self.root = typer.main.get_command(cli.app)
        cli.readable_metavars(self.root)
        self._cache: dict[tuple[str, ...], Any] = {(): self.root}

    def command(self, path: tuple[str, ...]) -> Any:
        """The command at ``path`` (names of groups and subcommands), or None."""
        if path in self._cache:
            return self._cache[path]
        parent = self.command(path[:-1])
        found = None
        if parent is not None and hasattr(parent, "get_command"):
            found = parent.get_command(self.click.Context(parent), path[-1])
        self._cache[path] = found
        return found

    def subcommands(self, command: Any) -> list[str]:
        if not hasattr(command, "list_commands"):
            return []
        return list(command.list_commands(self.click.Context(command)))

    def walk(self, words: list[str]) -> tuple[tuple[str, ...], Any, list[str], Any]:
        """(command path, its command, positional words after it, option awaiting a value).

        Options are looked up on the command and on the root (root options may come after
        the command), so their values are not taken for positional words.
        """
        path: tuple[str, ...] = ()
        command = self.root
        positionals: list[str] = []
        value_of: Any = None
        for word in words:
            if value_of is not None:
                value_of = None
                continue
            if word.startswith("-") and word != "-":
                value_of = option(command, word) or option(self.root, word)
                if value_of is not None and (value_of.is_flag or value_of.count or "=" in word):
                    value_of = None
                continue
            sub = self.command((*path, word)) if word in self.subcommands(command) else None
            if sub is not None:
                path, command, positionals = (*path, word), sub, []
            else:
                positionals.append(word)
        return path, command, positionals, value_of


def option(command: Any, word: str) -> Any:
    """The option of ``command`` that ``word`` (``--name`` or ``--name=value``) names."""
    name = word.split("=", 1)[0]
    for param in getattr(command, "params", ()):
        if param.param_type_name == "option" and name in (*param.opts, *param.secondary_opts):
            return param
    return None


def arguments(command: Any) -> list[Any]:
    return [p for p in getattr(command, "params", ()) if p.param_type_name == "argument"]
