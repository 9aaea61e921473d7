"""Splitting shell input into commands: one per line or ``;``-separated, ``#`` comments.

The words of a command follow POSIX shell quoting (``shlex``), so a line typed in the shell
reads exactly as it would after ``xiot`` on the command line.  A quoted string may run over
several lines (multi-line XML for ``raw``); a newline outside quotes ends the command.  An
unquoted ``&`` ends a command too, and makes it a background job (``Command.background``).
"""

from __future__ import annotations

import re
import shlex
from collections.abc import Iterable, Iterator

from xiot.errors import UsageError

_RAW = re.compile(r"\s*(?:xiot\s+)?raw(\s[^<]*)?(<.*)$", re.S)


class Command(list[str]):
    """The words of one command, and whether it ends in ``&`` (run it as a background job).

    A list, so code that only needs the words (and tests comparing them) sees one."""

    def __init__(self, words: Iterable[str] = (), background: bool = False) -> None:
        super().__init__(words)
        self.background = background


def split_line(text: str) -> list[Command]:
    """The commands of one logical line (``;`` separates), without empty ones.

    A command ended by an unquoted ``&`` (``readout x --watch 5 &``) is a background job;
    ``&`` also separates, as in a POSIX shell.  ``raw`` takes the rest of the line (and
    following lines, until the stanza is complete) as its XML, unquoted; a `` &`` after the
    whole stanza marks it too.  Raises ``ValueError`` for an unclosed quote or an unfinished
    stanza, so a caller can read one more line.
    """
    raw = _RAW.match(text)
    if raw:
        return [_raw_command(raw[1] or "", raw[2])]
    commands: list[Command] = []
    for segment, end in _segments(text):
        words = _without_program(shlex.split(segment))
        if words:
            commands.append(Command(words, background=end == "&"))
        elif end == "&":
            commands.append(Command(["&"]))  # '&&' or a lone '&': said to be no command
    return commands


def _segments(text: str) -> Iterator[tuple[str, str]]:
    """The text of each command and what ended it (``;``, ``&``, a newline or the end).

    Quoting follows ``shlex`` in POSIX mode (single quotes, double quotes with backslash
    escapes, a backslash outside quotes), so a quoted or escaped ``;``, ``&`` or ``#`` is a
    word's character; an unquoted ``#`` starts a comment that runs to the end of the line.
    """
    start = i = 0
    quote = ""
    while i < len(text):
        char = text[i]
        if quote:
            if char == quote:
                quote = ""
            elif char == "\\" and quote == '"' and text[i + 1:i + 2] in ('"', "\\"):
                i += 1
        elif char == "\\":
            if i + 1 >= len(text):
                raise ValueError("no escaped character")
            i += 1
        elif char in "'\"":
            quote = char
        elif char == "#":
            yield text[start:i], ""
            end = text.find("\n", i)
            if end < 0:
                return
            start = i = end
            continue
        elif char in ";&\n":
            yield text[start:i], char
            start = i + 1
        i += 1
    if quote:
        raise ValueError("no closing quotation")
    yield text[start:], ""


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


def _raw_command(options: str, xml: str) -> Command:
    """``raw [--timeout S] XML [&]``; ``ValueError`` while the XML is still unfinished.

    A trailing ``&`` counts only once the stanza before it is whole: ``&amp;`` and an ``&``
    inside an element are the XML's own."""
    from xiot.xmlsafe import UnsafeXml, XmlError, fromstring

    background = _JOB_MARK.search(xml)
    if background and _whole(xml[:background.start()]):
        xml = xml[:background.start()]
    else:
        background = None
    try:
        fromstring(xml)
    except UnsafeXml:
        pass  # refused for good: the command says why
    except XmlError as exc:
        if "no element found" in str(exc) or "unclosed token" in str(exc):
            raise ValueError("unfinished stanza") from None
    return Command(["raw", *shlex.split(options), xml.strip()], background=bool(background))


_JOB_MARK = re.compile(r"(?<=[\s>])&\s*$")


def _whole(xml: str) -> bool:
    from xiot.xmlsafe import XmlError, fromstring

    try:
        fromstring(xml)
    except XmlError:
        return False
    return True
