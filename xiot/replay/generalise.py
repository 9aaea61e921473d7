"""A recorded exchange as a scenario that replays on another day, server and resource.

Stanzas copied verbatim would fail on the next run: resources, ids the server made up,
timestamps, sensor values and roster versions differ every time.  So, going through the
journal in order:

- the actors' JIDs become ``${name.full_jid}``, ``${name.jid}``, and their domain
  ``${name.domain}`` wherever it stands as a whole name (``pubsub.${admin.domain}``,
  ``dev0001@${admin.domain}``);
- ids the actors sent are renamed ``ping-1``, ``roster-2``… (after the payload's namespace),
  the same name wherever the id comes back;
- in what was received, values that differ run to run become ``{any}``: ids the actors did
  not choose, ``stamp``/``ver`` attributes, ISO 8601 times, random-looking tokens, and the
  values of XEP-0323 fields; such a value that an actor later sends back (an item id to
  retract, a roster push to acknowledge) is captured instead (``{capture:id1}``) and sent as
  ``${id1}``;
- passwords and tokens (``<password/>``, ``<token/>``, private and password form fields) are
  written as ``REDACTED`` where sent and ``{any}`` where received, so a recording can be
  shared;
- an actor's answers to iq requests it received (slixmpp acknowledges roster pushes and
  answers disco and ping by itself) are left out: the replaying client gives them too.

Received stanzas that follow each other for one actor become one ``expect`` step (they may
arrive in any order when replayed).  The text is checked by loading it back with the
scenario reader before anyone writes it.
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from collections.abc import Iterable, Mapping
from copy import deepcopy
from dataclasses import dataclass, field
from typing import Any

from xiot.replay.match import render
from xiot.replay.model import load_text
from xiot.replay.record import Entry

__all__ = ["REDACTED", "ActorIdentity", "scenario_text"]

REDACTED = "REDACTED"
ANY = "{any}"
_SENSORDATA = "urn:xmpp:iot:sensordata"
_FIELD_KINDS = ("numeric", "boolean", "string", "date", "dateTime", "duration", "enum", "int",
                "long", "time")
_DATA_FORMS = "jabber:x:data"
_XML = "{http://www.w3.org/XML/1998/namespace}"
_SECRET_ELEMENTS = ("password", "token")
_SECRET_FIELD = re.compile(r"pass|secret|token", re.I)
_VOLATILE_ATTRS = ("stamp", "ver")
_DATETIME = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2}(\.\d+)?)?(Z|[+-]\d{2}:?\d{2})?$")
_RANDOM = re.compile(r"^(?=.*\d)(?=.*[A-Za-z])[A-Za-z0-9_+/=-]{12,}$"
                     r"|^(?=.*[a-z])(?=.*[A-Z])[A-Za-z0-9_-]{20,}$"
                     r"|^[0-9a-f]{10,}$|^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-")


@dataclass(frozen=True)
class ActorIdentity:
    """An actor as recorded: its YAML fields and the full JID its Session had."""

    name: str
    spec: Mapping[str, Any]
    full_jid: str

    @property
    def bare(self) -> str:
        return self.full_jid.split("/", 1)[0]

    @property
    def domain(self) -> str:
        return self.bare.rpartition("@")[2]


def scenario_text(entries: Iterable[Entry], actors: Iterable[ActorIdentity], name: str,
                  header: str = "") -> str:
    """The scenario YAML for ``entries`` (checked by loading it back)."""
    actors = list(actors)
    steps = _Generaliser(actors).steps(list(entries))
    lines = [f"# {line}".rstrip() for line in header.splitlines()]
    lines += [f"name: {_scalar(name)}", "actors:"]
    for actor in actors:
        lines.append(f"  {actor.name}:{_flow(actor.spec)}")
    lines.append("steps:" if steps else "steps: []")
    lines += steps
    text = "\n".join(lines) + "\n"
    load_text(text, "<recording>")  # a ScenarioError here is a defect of this module
    return text


# ------------------------------------------------------------------------------ steps


@dataclass
class _Generaliser:
    actors: list[ActorIdentity]
    #: literal value -> its replacement (JIDs, renamed ids, captured values), longest first.
    ids: dict[str, str] = field(default_factory=dict)
    #: the names ``ids`` gave (``ping-1``), looked up for every attribute value.
    _names: set[str] = field(default_factory=set)
    captured: dict[str, str] = field(default_factory=dict)
    _counts: dict[str, int] = field(default_factory=dict)
    #: value -> the indexes of the first and the last entry that send it: a received id
    #: the actors had sent is theirs, and a received value sent back later is captured.
    _sent: dict[str, tuple[int, int]] = field(default_factory=dict)

    def steps(self, entries: list[Entry]) -> list[str]:
        entries = _without_auto_answers(entries)
        self._sent = _sent_span(entries)
        out: list[str] = []
        group: list[tuple[int, Entry]] = []
        for index, entry in enumerate(entries):
            if entry.direction == "recv" and (not group or group[0][1].actor == entry.actor):
                group.append((index, entry))
                continue
            out += self._expect(group)
            group = [(index, entry)] if entry.direction == "recv" else []
            if entry.direction == "send":
                out += self._send(entry)
            elif entry.direction in ("connect", "disconnect"):
                out.append(f"  - {entry.direction}: {entry.actor}")
        out += self._expect(group)
        return out

    def _send(self, entry: Entry) -> list[str]:
        assert entry.element is not None
        self._name_id(entry.element)
        element = self._rename_ids(entry.element)
        self._apply(element, received=False)
        return [f"  - send: {entry.actor}", "    xml: |", *_block(element)]

    def _expect(self, group: list[tuple[int, Entry]]) -> list[str]:
        if not group:
            return []
        xml: list[str] = []
        for index, entry in group:
            assert entry.element is not None
            element = self._rename_ids(entry.element)
            self._apply(element, received=True, position=index)
            xml += _block(element)
        return [f"  - expect: {group[0][1].actor}", "    xml: |", *xml]

    # -- values ------------------------------------------------------------------------

    def _rename_ids(self, element: ET.Element) -> ET.Element:
        """A copy with the stanza id renamed, when an actor chose it (first seen in a send)."""
        copy = _copy(element)
        literal = copy.get("id")
        if literal is None:
            return copy
        if literal in self.ids:
            copy.set("id", self.ids[literal])
        return copy

    def _name_id(self, element: ET.Element) -> None:
        literal = element.get("id")
        if literal is None or literal in self.ids:
            return
        kind = _kind(element)
        self._counts[kind] = self._counts.get(kind, 0) + 1
        self.ids[literal] = f"{kind}-{self._counts[kind]}"
        self._names.add(self.ids[literal])

    def _apply(self, element: ET.Element, received: bool, position: int = -1) -> None:
        """Variables, wildcards, captures and redactions, in place, the whole tree."""
        for node, parent in _walk(element):
            for attr, value in list(node.attrib.items()):
                node.set(attr, self._value(node, attr, value, received, position))
            if node.text and node.text.strip():
                node.text = self._text(node, parent, node.text.strip(), received, position)

    def _sent_after(self, value: str, position: int) -> bool:
        return self._sent.get(value, (-1, -1))[1] > position

    def _sent_before(self, value: str, position: int) -> bool:
        return -1 < self._sent.get(value, (-1, -1))[0] < position

    def _value(self, node: ET.Element, attr: str, value: str, received: bool,
               position: int) -> str:
        if value in self.captured:
            return "${" + self.captured[value] + "}"
        if value in self._names or value.startswith("${"):
            return value
        jid = self._jid(value)
        if jid != value:
            return jid
        if not received:
            return value
        # An id the actors did not send first is the server's (a stanza id, an archive's
        # stanza-id, an item id it made up), whatever it looks like.
        volatile = (attr in _VOLATILE_ATTRS or _DATETIME.match(value) is not None
                    or (attr == "id" and not self._sent_before(value, position))
                    or _RANDOM.match(value) is not None
                    or (attr == "value" and _is_sensor_field(node)))
        if not volatile:
            return value
        if self._sent_after(value, position):
            return self._capture(attr, value)
        return ANY

    def _text(self, node: ET.Element, parent: ET.Element | None, text: str, received: bool,
              position: int) -> str:
        if _is_secret(node, parent):
            return ANY if received else REDACTED
        if text in self.captured:
            return "${" + self.captured[text] + "}"
        jid = self._jid(text)
        if jid != text or not received:
            return jid
        if _DATETIME.match(text) or _RANDOM.match(text):
            return self._capture("text", text) if self._sent_after(text, position) else ANY
        return text

    def _capture(self, attr: str, value: str) -> str:
        base = re.sub(r"\W", "_", attr.rpartition("}")[2]) or "value"
        self._counts["capture:" + base] = self._counts.get("capture:" + base, 0) + 1
        name = f"{base}{self._counts['capture:' + base]}"
        self.captured[value] = name
        return "{capture:" + name + "}"

    def _jid(self, value: str) -> str:
        """Actors' JIDs and domains in ``value`` as variables (the longest match first)."""
        for actor in self.actors:
            if value == actor.full_jid:
                return "${" + actor.name + ".full_jid}"
        for actor in self.actors:
            if value == actor.bare:
                return "${" + actor.name + ".jid}"
            if value.startswith(actor.bare + "/"):
                return "${" + actor.name + ".jid}" + value[len(actor.bare):]
        for actor in self.actors:
            pattern = r"(?<![\w-])" + re.escape(actor.domain) + r"(?![\w.-])"
            value = re.sub(pattern, "${" + actor.name + ".domain}", value)
        return value


def _without_auto_answers(entries: list[Entry]) -> list[Entry]:
    """Leave out an actor's iq result or error to an iq get/set it had received."""
    asked: set[tuple[str, str]] = set()
    kept: list[Entry] = []
    for entry in entries:
        element = entry.element
        if element is not None and element.tag.endswith("}iq"):
            key = (entry.actor, element.get("id", ""))
            kind = element.get("type")
            if entry.direction == "recv" and kind in ("get", "set"):
                asked.add(key)
            elif entry.direction == "send" and kind in ("result", "error") and key in asked:
                asked.discard(key)
                continue
        kept.append(entry)
    return kept


def _sent_span(entries: list[Entry]) -> dict[str, tuple[int, int]]:
    """Every attribute value and text the actors send -> its first and last send."""
    found: dict[str, tuple[int, int]] = {}
    for index, entry in enumerate(entries):
        if entry.direction != "send" or entry.element is None:
            continue
        for node in entry.element.iter():
            values = [*node.attrib.values()]
            if node.text and node.text.strip():
                values.append(node.text.strip())
            for value in values:
                found[value] = (found.get(value, (index, index))[0], index)
    return found


def _is_sensor_field(node: ET.Element) -> bool:
    ns, _, local = node.tag[1:].partition("}")
    return ns == _SENSORDATA and local in _FIELD_KINDS


def _is_secret(node: ET.Element, parent: ET.Element | None) -> bool:
    local = node.tag.rpartition("}")[2]
    if local in _SECRET_ELEMENTS:
        return True
    if parent is None or parent.tag != f"{{{_DATA_FORMS}}}field" or local != "value":
        return False
    return (parent.get("type") == "text-private"
            or _SECRET_FIELD.search(parent.get("var", "")) is not None)


def _kind(element: ET.Element) -> str:
    """What an id is named after: the payload's namespace (``ping``), or the stanza kind."""
    stanza = element.tag.rpartition("}")[2]
    for child in element:
        ns = child.tag[1:].partition("}")[0] if child.tag.startswith("{") else ""
        if ns and ns != "jabber:client":
            last = re.split(r"[:/]", ns.rstrip("/"))[-1]
            name = re.sub(r"[^a-z0-9]+", "-", last.lower()).strip("-")
            if name and not name.isdigit():
                return name
    return stanza


def _walk(element: ET.Element, parent: ET.Element | None = None
          ) -> Iterable[tuple[ET.Element, ET.Element | None]]:
    yield element, parent
    for child in element:
        yield from _walk(child, element)


def _copy(element: ET.Element) -> ET.Element:
    """A copy to rewrite, without attributes in namespaces other than ``xml:`` (a scenario
    declares no prefix for them)."""
    copy = deepcopy(element)
    for node in copy.iter():
        for name in [n for n in node.attrib if n.startswith("{") and not n.startswith(_XML)]:
            del node.attrib[name]
    return copy


def _block(element: ET.Element) -> list[str]:
    return ["      " + line for line in render(element).splitlines()]


def _scalar(text: str) -> str:
    import json

    return json.dumps(text, ensure_ascii=False)


def _flow(spec: Mapping[str, Any]) -> str:
    if not spec:
        return ""
    return " {" + ", ".join(f"{k}: {_scalar(str(v))}" for k, v in spec.items()) + "}"
