"""One XML parser for what xiot reads from the network: no DTDs, no entities, bounded depth.

XMPP forbids DTDs in streams (RFC 6120 section 11.1), and host-meta or BOSH bodies have no use
for them either; a DTD is how entity-expansion ("billion laughs") and external-entity attacks
start.  Python's ``xml.etree`` parsers accept a DOCTYPE and expand internal entities, and
offer no hook to refuse them that works with incremental (pull) parsing, so this module drives
``expat`` itself: a handler on the DOCTYPE and on every entity declaration raises, before any
declaration inside the DTD is read, and parameter entities are never parsed.  Elements are
built by ``xml.etree``'s own ``TreeBuilder``, so callers get ordinary ``Element`` objects with
``{namespace}local`` tags, as ``xml.etree.ElementTree.fromstring`` gives.

Scanning the bytes for ``<!DOCTYPE`` instead is not enough: a declaration split across two
reads, or sent in UTF-16, passes such a check.  Nesting is capped, because serialising or
walking a tree thousands of levels deep recurses that deep.

Bottom layer: the standard library only.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from typing import Any
from xml.parsers import expat

__all__ = ["MAX_DEPTH", "PullParser", "UnsafeXml", "XmlError", "fromstring"]

#: Elements nested deeper than this are refused (a stream's stanzas need a few dozen at most).
MAX_DEPTH = 256

_NS_SEPARATOR = "}"


class XmlError(ValueError):
    """The input is not well-formed XML (or is refused); the message says where and why."""


class UnsafeXml(XmlError):
    """The input declares a DTD or entities, or nests too deeply: refused, never expanded."""


def _name(raw: str) -> str:
    """expat's ``namespace}local`` as ElementTree's ``{namespace}local``."""
    return "{" + raw if _NS_SEPARATOR in raw else raw


class PullParser:
    """Incremental parser: ``feed(bytes)``, then ``read_events()`` gives ``("start"|"end",
    element)`` pairs as they complete (like ``xml.etree.ElementTree.XMLPullParser``).

    Raises ``UnsafeXml`` for a DTD, an entity declaration or too deep nesting, and
    ``XmlError`` for anything malformed; after either, the parser must not be fed again.
    """

    def __init__(self, max_depth: int = MAX_DEPTH) -> None:
        self._builder = ET.TreeBuilder()
        self._events: list[tuple[str, ET.Element]] = []
        self._depth = 0
        self._max_depth = max_depth
        parser = expat.ParserCreate(None, _NS_SEPARATOR)
        parser.buffer_text = True
        parser.ordered_attributes = True
        parser.SetParamEntityParsing(expat.XML_PARAM_ENTITY_PARSING_NEVER)
        parser.StartElementHandler = self._start
        parser.EndElementHandler = self._end
        parser.CharacterDataHandler = self._builder.data
        parser.StartDoctypeDeclHandler = self._refuse_dtd
        parser.EntityDeclHandler = self._refuse_entity
        parser.UnparsedEntityDeclHandler = self._refuse_entity
        parser.ExternalEntityRefHandler = self._refuse_external
        parser.SkippedEntityHandler = self._refuse_skipped
        self._parser = parser

    # -- expat handlers ----------------------------------------------------------------------

    def _start(self, tag: str, attributes: list[str]) -> None:
        self._depth += 1
        if self._depth > self._max_depth:
            raise UnsafeXml(f"elements nested more than {self._max_depth} deep")
        attrib = {_name(attributes[i]): attributes[i + 1] for i in range(0, len(attributes), 2)}
        element = self._builder.start(_name(tag), attrib)
        self._events.append(("start", element))

    def _end(self, tag: str) -> None:
        self._depth -= 1
        self._events.append(("end", self._builder.end(_name(tag))))

    @staticmethod
    def _refuse_dtd(*_: Any) -> None:
        raise UnsafeXml("the document declares a DTD (<!DOCTYPE>), which is refused")

    @staticmethod
    def _refuse_entity(name: str, *_: Any) -> None:
        raise UnsafeXml(f"the document declares the entity {name!r}, which is refused")

    @staticmethod
    def _refuse_external(*_: Any) -> int:
        raise UnsafeXml("the document refers to an external entity, which is refused")

    @staticmethod
    def _refuse_skipped(name: str, *_: Any) -> None:
        raise UnsafeXml(f"the document uses the undeclared entity {name!r}")

    # -- API -------------------------------------------------------------------------------

    def feed(self, data: bytes | str) -> None:
        """Parse the next piece of the document."""
        self._parse(data, False)

    def close(self) -> None:
        """The document ends here: ``XmlError`` if it is incomplete."""
        self._parse(b"", True)

    def read_events(self) -> list[tuple[str, ET.Element]]:
        """The events completed since the last call, oldest first."""
        events, self._events = self._events, []
        return events

    @property
    def root(self) -> ET.Element | None:
        """The document element once it is complete (after ``close``)."""
        try:
            return self._builder.close()
        except (AssertionError, IndexError):
            return None

    def _parse(self, data: bytes | str, final: bool) -> None:
        try:
            self._parser.Parse(data, final)
        except expat.ExpatError as exc:
            raise XmlError(f"not well-formed XML ({expat.ErrorString(exc.code)}, "
                           f"line {exc.lineno}, column {exc.offset})") from None


def fromstring(data: bytes | str, max_depth: int = MAX_DEPTH) -> ET.Element:
    """The document element of a complete document; ``XmlError``/``UnsafeXml`` as above."""
    parser = PullParser(max_depth)
    parser.feed(data)
    parser.close()
    root = parser.root
    if root is None:
        raise XmlError("no element in the document")
    return root
