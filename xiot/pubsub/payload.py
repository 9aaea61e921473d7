"""Item payloads: XML read from files and stdin without DTDs, JSON in a XEP-0335 container.

A payload given by a user (a file, stdin) or received from the network is parsed with expat
and refused as soon as it declares a document type: a DTD can define entities that expand to
gigabytes or read local files, and nothing in a PubSub item needs one.  (There is no shared
``xmlsafe`` module in xiot yet; this parser is PubSub's own.)

JSON is carried the way XEP-0335 (JSON Containers) says: the text of a
``<json xmlns='urn:xmpp:json:0'/>`` element.  ``json_of`` reads it back, so NDJSON output
shows such payloads as JSON values.
"""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from typing import Any

from xiot.errors import UsageError

NS_JSON = "urn:xmpp:json:0"
JSON_TAG = f"{{{NS_JSON}}}json"


def parse_xml(data: bytes | str, source: str = "payload") -> ET.Element:
    """The one root element of ``data``; ``UsageError`` (exit 2) if it is not acceptable.

    Not well-formed text, several root elements, a DOCTYPE or an ENTITY declaration all
    raise, naming ``source`` (a file name, ``stdin``) and what the parser found: the same
    DTD-free parser xiot uses for everything it reads from the network (``xiot.xmlsafe``).
    """
    from xiot.xmlsafe import UnsafeXml, XmlError, fromstring

    try:
        return fromstring(data)
    except UnsafeXml as exc:
        raise UsageError(f"{source} is refused: {exc}",
                         "Remove the <!DOCTYPE ...> (and entities) from the payload") from None
    except XmlError as exc:
        raise UsageError(f"{source} is {exc}",
                         "Give one XML element as the payload, or use --json") from None


def json_container(value: Any) -> ET.Element:
    """``value`` as a XEP-0335 ``<json xmlns='urn:xmpp:json:0'>`` element."""
    element = ET.Element(JSON_TAG)
    element.text = json.dumps(value, separators=(",", ":"), ensure_ascii=False)
    return element


def parse_json(text: str, source: str = "payload") -> ET.Element:
    """JSON text wrapped in a container; ``UsageError`` if it is not JSON."""
    try:
        value = json.loads(text)
    except ValueError as exc:
        raise UsageError(f"{source} is not valid JSON ({exc})",
                         "Give a JSON document, or drop --json for an XML payload") from None
    return json_container(value)


def json_of(payload: ET.Element | None) -> Any:
    """The JSON value of a XEP-0335 container payload, None for any other payload."""
    if payload is None or payload.tag != JSON_TAG:
        return None
    try:
        return json.loads(payload.text or "null")
    except ValueError:
        return None


def to_text(payload: ET.Element | None) -> str | None:
    """A payload as compact XML, each element in its namespace as the publisher wrote it.

    ElementTree would prefix every namespaced element (``<ns0:temp xmlns:ns0=...>``); here an
    element's namespace becomes the default one where it changes, and only namespaced
    attributes get prefixes.
    """
    if payload is None:
        return None
    out: list[str] = []
    _write(payload, None, out)
    return "".join(out)


def _split(tag: str) -> tuple[str | None, str]:
    if tag.startswith("{"):
        namespace, local = tag[1:].split("}", 1)
        return namespace, local
    return None, tag


def _write(element: ET.Element, inherited: str | None, out: list[str]) -> None:
    from xml.sax.saxutils import escape, quoteattr

    namespace, local = _split(element.tag)
    attrs = []
    if namespace != inherited:
        attrs.append(f" xmlns={quoteattr(namespace or '')}")
    prefixes: dict[str, str] = {}
    for key, value in element.attrib.items():
        attr_ns, attr_local = _split(key)
        if attr_ns is None:
            attrs.append(f" {attr_local}={quoteattr(value)}")
        elif attr_ns == "http://www.w3.org/XML/1998/namespace":
            attrs.append(f" xml:{attr_local}={quoteattr(value)}")
        else:
            prefix = prefixes.setdefault(attr_ns, f"a{len(prefixes)}")
            attrs.append(f" {prefix}:{attr_local}={quoteattr(value)}")
    attrs += [f" xmlns:{prefix}={quoteattr(ns)}" for ns, prefix in prefixes.items()]
    out.append(f"<{local}{''.join(attrs)}")
    if len(element) == 0 and not element.text:
        out.append("/>")
    else:
        out.append(">" + escape(element.text or ""))
        for child in element:
            _write(child, namespace, out)
            out.append(escape(child.tail or ""))
        out.append(f"</{local}>")


def namespace_of(payload: ET.Element | None) -> str | None:
    if payload is None or not payload.tag.startswith("{"):
        return None
    return payload.tag[1:].split("}", 1)[0]
