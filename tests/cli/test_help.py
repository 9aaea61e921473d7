"""Every command and subcommand has --help with examples and readable metavars."""

from __future__ import annotations

import re

import pytest
import typer

from tests.helpers import xiot_here
from xiot.cli import COMMANDS


def _command_paths() -> list[tuple[str, ...]]:
    """Every command path of the tree, read from the command objects themselves."""
    import importlib

    paths: list[tuple[str, ...]] = []

    def walk(command, path):  # type: ignore[no-untyped-def]
        paths.append(path)
        for name, sub in getattr(command, "commands", {}).items():
            walk(sub, (*path, name))

    for name, (module, _) in sorted(COMMANDS.items()):
        walk(typer.main.get_command(importlib.import_module(module).app), (name,))
    return paths


#: Groups whose callback takes an argument (a JID) before the subcommand.
NEEDS_ARGUMENT = {"control": "dev@example.org", "nodes": "gw@example.org"}


@pytest.mark.parametrize("path", _command_paths(), ids=" ".join)
def test_help_has_examples_and_readable_metavars(path):
    argv = list(path[:1])
    if path[0] in NEEDS_ARGUMENT and len(path) > 1:
        argv.append(NEEDS_ARGUMENT[path[0]])
    result = xiot_here(*argv, *path[1:], "--help")
    assert result.code == 0, result.stderr
    assert "Examples:" in result.stdout, f"xiot {' '.join(path)} --help shows no examples"
    assert not re.search(r"<(int|float|str|text|integer)[^>]*>", result.stdout), result.stdout
    assert not re.search(r"\{[a-z_]+(\|[a-z_]+)+\}", result.stdout), result.stdout
