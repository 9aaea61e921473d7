"""Splitting shell input into commands: one per line or ``;``-separated, ``#`` comments.

The words of a command follow POSIX shell quoting (``shlex``), so a line typed in the shell
reads exactly as it would after ``xiot`` on the command line.  A quoted string may run over
several lines (multi-line XML for ``raw``); a newline outside quotes ends the command.
"""

from __future__ import annotations

import re
import shlex
from collections.abc import Iterable, Iterator

from xiot.errors import UsageError

_RAW = re.compile(r"\s*(?:xiot\s+)?raw(\s[^<]*)?(<.*)$", re.S)


def split_line(text: str) -> list[list[str]]:
    """The commands of one logical line (``;`` separates), without empty ones.

    ``raw`` takes the rest of the line (and following lines, until the stanza is complete)
    as its XML, unquoted.  Raises ``ValueError`` for an unclosed quote or an unfinished
    stanza, so a caller can read one more line.
    """
    raw = _RAW.match(text)
    if raw:
        return [_raw_command(raw[1] or "", raw[2])]
    lexer = shlex.shlex(text, posix=True, punctuation_chars=";")
    lexer.whitespace_split = True
    lexer.commenters = "#"
    commands: list[list[str]] = [[]]
    for token in lexer:
        if token and set(token) == {";"}:
            commands.extend([] for _ in token)
        else:
            commands[-1].append(token)
    return [_without_program(words) for words in commands if words]


def _without_program(words: list[str]) -> list[str]:
    """``xiot ping`` and ``ping`` mean the same in a script."""
    return words[1:] if len(words) > 1 and words[0] == "xiot" else words


def commands_of(lines: Iterable[str]) -> Iterator[list[str]]:
    """Every command of a script, in order; a quote left open at the end is a usage error."""
    pending = ""
    for line in lines:
        pending += line if line.endswith("\n") else line + "\n"
        try:
            found = split_line(pending)
        except ValueError:
            continue  # an open quote: the command goes on on the next line
        pending = ""
        yield from found
    if pending.strip():
        raise UsageError("the script ends inside a quote or an unfinished stanza",
                         "Close the quote (or escape it with a backslash), or the XML element")


def _raw_command(options: str, xml: str) -> list[str]:
    """``raw [--timeout S] XML``; ``ValueError`` while the XML is still unfinished."""
    from xiot.xmlsafe import UnsafeXml, XmlError, fromstring

    try:
        fromstring(xml)
    except UnsafeXml:
        pass  # refused for good: the command says why
    except XmlError as exc:
        if "no element found" in str(exc) or "unclosed token" in str(exc):
            raise ValueError("unfinished stanza") from None
    return ["raw", *shlex.split(options), xml.strip()]
