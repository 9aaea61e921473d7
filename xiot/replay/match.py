"""Does a received stanza match an expected one?  Pure functions over ``xml.etree`` elements.

The rules follow scansion's, so that suites written for it mean the same thing here:

- Both sides are namespace-qualified trees; an expected stanza written without ``xmlns`` is in
  the stream's namespace (``jabber:client``).  Prefixes, attribute order and whitespace
  between elements never matter.
- Non-strict element: every expected attribute must be present with that value (extras are
  fine); every expected child must match a distinct received child, in any order (extra
  children are fine); expected text, when given, must equal the received text (stripped).
- Strict element: the same attributes both ways, the same number of children in the same
  order, and the same text.
- Which elements are strict: a stanza is not (unless the step says ``strict: true``); an
  element in a namespace other than its parent's (a payload such as ``<query
  xmlns='jabber:iq:roster'/>``) is strict, and so is everything inside a strict element.
  ``replay:strict='true|false'`` (or scansion's ``scansion:strict``) on an expected element
  overrides this for it and what it contains.
- ``{any}`` as an attribute value or text: present, any value.  ``{capture:NAME}``: binds
  NAME to the received value the first time, must equal it afterwards.

A failed match is explained (the first difference, with its path) and candidates are scored
(``similarity``), so that a report can show the *closest* stanza that arrived, not the last.
"""

from __future__ import annotations

import difflib
import functools
import re
import xml.etree.ElementTree as ET
from collections.abc import Mapping
from dataclasses import dataclass
from xml.sax.saxutils import escape

from xiot.replay.model import REPLAY_NS, SCANSION_NS, VARIABLE, parse_stanzas

__all__ = ["Result", "compare", "diff", "expected_stanzas", "render", "similarity",
           "substitute"]

STREAM_NS = "jabber:client"
XML_NS = "http://www.w3.org/XML/1998/namespace"
_ANY = ("{any}", "{scansion:any}")
_CAPTURE = re.compile(r"^\{(?:scansion:)?capture:([A-Za-z_][\w-]*)\}$")
_SWITCHES = (f"{{{REPLAY_NS}}}strict", f"{{{SCANSION_NS}}}strict")

Captures = Mapping[str, str]


@dataclass(frozen=True)
class Result:
    """``ok`` with the captures after the match, or the first difference (``reason``)."""

    ok: bool
    captures: Captures
    reason: str = ""


# ------------------------------------------------------------------------------ input


def substitute(text: str, variables: Mapping[str, str]) -> str:
    """``${name}`` replaced by its value, escaped for XML (a value cannot inject markup).

    Unknown names are left as written (the loader refuses them before a run starts).
    """
    def one(found: re.Match[str]) -> str:
        value = variables.get(found.group(1))
        return found.group(0) if value is None else escape(value, {"'": "&apos;",
                                                                   '"': "&quot;"})
    return VARIABLE.sub(one, text)


def expected_stanzas(text: str, variables: Mapping[str, str]) -> list[ET.Element]:
    """The expected stanzas of a block after substitution (parsed once per distinct text;
    matching only reads the trees, so they are shared)."""
    return list(_parsed(substitute(text, variables)))


@functools.lru_cache(maxsize=256)
def _parsed(text: str) -> tuple[ET.Element, ...]:
    return tuple(parse_stanzas(text))


# ------------------------------------------------------------------------------ matching


def _ns(tag: str) -> str:
    return tag[1:].split("}", 1)[0] if tag.startswith("{") else ""


def _switch(element: ET.Element) -> bool | None:
    for name in _SWITCHES:
        value = element.get(name)
        if value is not None:
            return value.strip().lower() in ("true", "1", "yes")
    return None


def _strictness(expected: ET.Element, parent_ns: str, parent_strict: bool) -> bool:
    switch = _switch(expected)
    if switch is not None:
        return switch
    return True if _ns(expected.tag) != parent_ns else parent_strict


def _text(element: ET.Element) -> str:
    return (element.text or "").strip()


def _value(expected: str, received: str | None, captures: dict[str, str], what: str
           ) -> str | None:
    """None if ``received`` satisfies ``expected`` (binding captures), else the reason."""
    if received is None:
        return f"{what} missing"
    if expected in _ANY:
        return None
    capture = _CAPTURE.match(expected)
    if capture:
        name = capture.group(1)
        if name not in captures:
            captures[name] = received
            return None
        expected = captures[name]
    if expected != received:
        return f"{what}: expected {expected!r}, got {received!r}"
    return None


def compare(expected: ET.Element, received: ET.Element, captures: Captures | None = None,
            strict: bool = False) -> Result:
    """Match one received stanza against one expected stanza (the rules above)."""
    caps = dict(captures or {})
    reason = _element(expected, received, caps, _strictness(expected, STREAM_NS, strict),
                      "/" + _local(expected.tag))
    if reason is None:
        return Result(True, caps)
    return Result(False, dict(captures or {}), reason)


def _element(expected: ET.Element, received: ET.Element, caps: dict[str, str], strict: bool,
             path: str) -> str | None:
    if expected.tag != received.tag:
        return f"{path}: expected <{_show_tag(expected.tag)}>, got <{_show_tag(received.tag)}>"
    wanted = {k: v for k, v in expected.attrib.items() if k not in _SWITCHES}
    for name, value in wanted.items():
        reason = _value(value, received.get(name), caps, f"{path}@{_show_attr(name)}")
        if reason:
            return reason
    if strict:
        extra = sorted(set(received.attrib) - set(wanted))
        if extra:
            return f"{path}: unexpected attribute {_show_attr(extra[0])} (strict)"
    text = _text(expected)
    if text or strict:
        reason = _value(text, _text(received), caps, f"{path} text")
        if reason:
            return reason
    ns = _ns(expected.tag)
    children = [(c, _strictness(c, ns, strict)) for c in expected]
    if strict:
        return _ordered(children, list(received), caps, path)
    return _unordered(children, list(received), caps, path)


def _ordered(children: list[tuple[ET.Element, bool]], got: list[ET.Element],
             caps: dict[str, str], path: str) -> str | None:
    for index, (child, strict) in enumerate(children):
        if index >= len(got):
            return f"{path}: missing child <{_show_tag(child.tag)}> (strict)"
        reason = _element(child, got[index], caps, strict, f"{path}/{_local(child.tag)}")
        if reason:
            return reason
    if len(got) > len(children):
        return f"{path}: unexpected child <{_show_tag(got[len(children)].tag)}> (strict)"
    return None


def _unordered(children: list[tuple[ET.Element, bool]], got: list[ET.Element],
               caps: dict[str, str], path: str) -> str | None:
    """Each expected child matched to a distinct received one, any order (backtracking)."""
    def assign(index: int, used: frozenset[int], bound: dict[str, str]) -> dict[str, str] | None:
        if index == len(children):
            return bound
        child, strict = children[index]
        for position, candidate in enumerate(got):
            if position in used or candidate.tag != child.tag:
                continue
            trial = dict(bound)
            if _element(child, candidate, trial, strict, path) is None:
                done = assign(index + 1, used | {position}, trial)
                if done is not None:
                    return done
        return None

    if len(children) > 8 * 8:  # keep the search bounded on pathological input
        children = children[:64]
    found = assign(0, frozenset(), dict(caps))
    if found is not None:
        caps.clear()
        caps.update(found)
        return None
    return _why_children(children, got, caps, path)


def _why_children(children: list[tuple[ET.Element, bool]], got: list[ET.Element],
                  caps: dict[str, str], path: str) -> str:
    """The first expected child that no received child satisfies, and why (closest one)."""
    for child, strict in children:
        candidates = [c for c in got if c.tag == child.tag]
        if not candidates:
            return f"{path}: missing child <{_show_tag(child.tag)}>"
        best = max(candidates, key=lambda c: similarity(child, c))
        reason = _element(child, best, dict(caps), strict, f"{path}/{_local(child.tag)}")
        if reason:
            return reason
    return f"{path}: the expected children cannot all be matched to distinct received ones"


# ------------------------------------------------------------------------------ scoring


def similarity(expected: ET.Element, received: ET.Element) -> float:
    """0..1: how much of ``expected`` the received stanza has (for choosing a diff partner)."""
    if expected.tag != received.tag:
        return 0.0
    points, total = 1.0, 1.0
    for name, value in expected.attrib.items():
        if name in _SWITCHES:
            continue
        total += 1
        got = received.get(name)
        if got is not None:
            points += 1.0 if (got == value or value in _ANY or _CAPTURE.match(value)) else 0.5
    if _text(expected):
        total += 1
        points += 1.0 if _text(expected) in (_text(received), *_ANY) else 0.0
    for child in expected:
        total += 1
        points += max((similarity(child, c) for c in received), default=0.0)
    return points / total


# ------------------------------------------------------------------------------ rendering


def _local(tag: str) -> str:
    return tag.split("}", 1)[1] if tag.startswith("{") else tag


def _show_tag(tag: str) -> str:
    ns = _ns(tag)
    return _local(tag) if ns in ("", STREAM_NS) else f"{_local(tag)} xmlns='{ns}'"


_PREFIXES = {XML_NS: "xml", REPLAY_NS: "replay", SCANSION_NS: "scansion"}


def _show_attr(name: str) -> str:
    """``xml:lang``, ``scansion:strict``: the prefixes scenarios are written with."""
    prefix = _PREFIXES.get(_ns(name))
    return f"{prefix}:{_local(name)}" if prefix else name


def _quote(value: str) -> str:
    return "'" + escape(value, {"'": "&apos;", "\n": "&#10;"}) + "'"


def render(element: ET.Element, parent_ns: str = STREAM_NS, indent: str = "") -> str:
    """Canonical, indented text: sorted attributes, ``xmlns`` only where it changes, text
    stripped; what two stanzas that match the same way look like, so a diff shows only
    differences that matter."""
    ns = _ns(element.tag)
    attrs = [f"xmlns={_quote(ns)}"] if ns != parent_ns else []
    for name in sorted(element.attrib):
        attrs.append(f"{_show_attr(name)}={_quote(element.attrib[name])}")
    head = "<" + " ".join([_local(element.tag), *attrs])
    text = _text(element)
    children = list(element)
    if not children and not text:
        return f"{indent}{head}/>"
    if not children:
        return f"{indent}{head}>{escape(text)}</{_local(element.tag)}>"
    lines = [f"{indent}{head}>"]
    if text:
        lines.append(f"{indent}  {escape(text)}")
    lines += [render(child, ns, indent + "  ") for child in children]
    lines.append(f"{indent}</{_local(element.tag)}>")
    return "\n".join(lines)


def diff(expected: ET.Element, received: ET.Element) -> str:
    """A unified diff, expected against received, of the canonical renderings."""
    lines = difflib.unified_diff(render(expected).splitlines(), render(received).splitlines(),
                                 "expected", "received", lineterm="", n=20)
    return "\n".join(lines)
