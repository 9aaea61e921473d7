"""What every PubSub operation shares: the service, one request, errors, features and forms.

Requests are built as plain ElementTree elements and sent in an iq of the right type, instead
of through slixmpp's ``xep_0060`` plugin: that plugin sends a subscription-options change as a
``get``, offers no pending-subscription or collection helpers and returns untyped forms, and
each operation here needs the exact element anyway to report what the server refused.

Errors become ``RemoteError`` (exit 7) with one line naming the node and what the server said;
a feature the service does not advertise (collections on Prosody 0.12, pending approval) is
``UnsupportedFeature``, raised before anything is sent.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from xiot.errors import RemoteError, Timeout, UsageError

if TYPE_CHECKING:
    from xiot.xmpp.session import Session

NS = "http://jabber.org/protocol/pubsub"
NS_OWNER = NS + "#owner"
NS_EVENT = NS + "#event"
NS_ERRORS = NS + "#errors"
NS_DATA = "jabber:x:data"
NS_STANZAS = "urn:ietf:params:xml:ns:xmpp-stanzas"
NODE_CONFIG = NS + "#node_config"
PUBLISH_OPTIONS = NS + "#publish-options"
SUBSCRIBE_OPTIONS = NS + "#subscribe_options"

#: What a missing feature is called for people, by its disco feature name (after ``#``).
FEATURE_NAMES: Mapping[str, str] = {
    "collections": "collection nodes (XEP-0248)",
    "publish-options": "publish options",
    "get-pending": "pending-subscription approval",
    "manage-subscriptions": "managing subscriptions as owner",
    "modify-affiliations": "changing affiliations",
    "retrieve-affiliations": "listing one's affiliations",
    "retrieve-subscriptions": "listing subscriptions",
    "retrieve-default": "the default node configuration",
    "purge-nodes": "purging nodes",
    "delete-nodes": "deleting nodes",
    "access-authorize": "the authorize access model",
    "subscription-options": "subscription options",
    "publish-only-affiliation": "the publish-only affiliation",
    "outcast-affiliation": "the outcast affiliation",
    "member-affiliation": "the member affiliation",
    "instant-nodes": "instant nodes",
    "config-node": "node configuration",
}


def q(namespace: str, tag: str) -> str:
    return f"{{{namespace}}}{tag}"


class UnsupportedFeature(RemoteError):
    """The service does not offer a PubSub feature the operation needs (exit 7)."""

    def __init__(self, service: str, feature: str, what: str | None = None) -> None:
        name = FEATURE_NAMES.get(feature, feature)
        action = f"cannot {what}: " if what else ""
        super().__init__(f"{action}{service} does not support {name} "
                         f"(no pubsub#{feature} in its features)",
                         "Use a server that offers it; 'xiot pubsub features' lists what "
                         "this one does", condition="feature-not-implemented")
        self.feature = feature


@dataclass(frozen=True)
class Target:
    """The PubSub service (a component, or an account's own PEP service) and what it offers."""

    service: str
    pep: bool
    features: frozenset[str]

    def has(self, feature: str) -> bool:
        return f"{NS}#{feature}" in self.features

    def require(self, feature: str, what: str | None = None) -> None:
        if not self.has(feature):
            raise UnsupportedFeature(self.service, feature, what)


class ServiceCache:
    """Per-connection memory of which service is where and what it offers (a Session state)."""

    def __init__(self, session: Session) -> None:
        self.features: dict[str, frozenset[str]] = {}
        self.found: str | None = None


async def target(session: Session, service: str | None = None, pep: bool = False) -> Target:
    """The service to address: ``--pep`` (one's own account), ``--service``, or discovered.

    Discovery asks the server's disco#items for an item whose identity is
    ``pubsub/service``; its features are read once per connection.
    """
    from xiot.xmpp.disco import get_info, get_items

    cache = session.state(ServiceCache)
    timeout = session.settings.timeout
    if pep:
        jid = session.jid.bare
    elif service:
        jid = service
    elif cache.found:
        jid = cache.found
    else:
        domain = session.jid.domain
        items = await get_items(session, domain, None, timeout)
        jid = ""
        for item in items.items:
            if item.node:
                continue
            info = await get_info(session, item.jid, None, timeout)
            if any(i.category == "pubsub" and i.type == "service" for i in info.identities):
                jid = item.jid
                cache.features[jid] = frozenset(info.features)
                break
        if not jid:
            raise RemoteError(f"{domain} lists no PubSub service",
                              "Give one with --service JID, or use --pep for your own account",
                              condition="item-not-found")
        cache.found = jid
    if jid not in cache.features:
        info = await get_info(session, jid, None, timeout)
        cache.features[jid] = frozenset(info.features)
    return Target(jid, pep, cache.features[jid])


async def request(session: Session, to: str, kind: str, payload: ET.Element, what: str,
                  node: str | None = None, missing: str | None = None) -> ET.Element:
    """Send ``payload`` in an iq of ``kind`` to ``to``; the result iq's XML.

    An error answer raises ``RemoteError`` saying ``what`` failed on ``node`` and why;
    ``missing`` names what item-not-found means when it is not the node (an item).
    """
    from slixmpp.exceptions import IqError, IqTimeout

    check_characters(payload)
    timeout = session.settings.timeout
    iq = session.client.Iq()
    iq["to"] = to
    iq["type"] = kind
    iq.append(payload)
    try:
        result = await session.guard(iq.send(timeout=timeout))
    except IqError as exc:
        raise remote_error(exc.iq.xml, what, to, node, missing) from None
    except IqTimeout:
        raise Timeout(f"{to} did not answer {what} within {timeout:g}s",
                      "Is the service up? Raise --timeout if it is slow") from None
    return result.xml


_BAD_CHARS = frozenset(chr(c) for c in range(32)) - {"\t", "\n", "\r"} | {"\ufffe", "\uffff"}


def check_characters(element: ET.Element) -> None:
    """Refuse text XML cannot carry (control characters): a server closes the whole stream
    on them, so a bad node name or value would otherwise look like a lost connection."""
    for part in element.iter():
        texts = [part.text or "", *part.attrib.values()]
        for text in texts:
            bad = next((c for c in text if c in _BAD_CHARS), None)
            if bad is not None:
                raise UsageError(f"{text!r} holds the control character {bad!r}, which XML "
                                 "cannot carry", "Remove it from the node name or value")


@dataclass(frozen=True)
class ErrorInfo:
    """What an error stanza says: the RFC 6120 condition, its text, the PubSub detail."""

    condition: str
    text: str
    detail: str | None = None
    feature: str | None = None


def error_info(stanza: ET.Element) -> ErrorInfo:
    error = stanza.find("{jabber:client}error")
    if error is None:
        error = next((e for e in stanza if e.tag.endswith("}error")), None)
    condition, text, detail, feature = "undefined-condition", "", None, None
    for child in error if error is not None else ():
        namespace, _, local = child.tag[1:].partition("}")
        if namespace == NS_STANZAS and local == "text":
            text = (child.text or "").strip()
        elif namespace == NS_STANZAS:
            condition = local
        elif namespace == NS_ERRORS:
            detail, feature = local, child.get("feature")
    return ErrorInfo(condition, text, detail, feature)


def remote_error(stanza: ET.Element, what: str, service: str, node: str | None,
                 missing: str | None = None) -> RemoteError:
    """One line for an error answer: what failed, on which node, the server's reason."""
    info = error_info(stanza)
    if info.detail == "unsupported" and info.feature:
        return UnsupportedFeature(service, info.feature, what)
    where = f"node '{node}' on {service}" if node else service
    reason = info.condition + (f" ({info.detail})" if info.detail else "") + (
        f": {info.text}" if info.text else "")
    if info.condition == "item-not-found" and missing:
        message = f"cannot {what}: {missing} does not exist"
        hint = "'xiot pubsub items NODE' shows the items there are"
    elif info.condition == "item-not-found" and node:
        message = f"cannot {what}: {where} does not exist"
        hint = "'xiot pubsub list' shows the nodes there are"
    elif info.condition in ("forbidden", "not-authorized"):
        message = f"{service} refused to {what} on {where.split(' on ')[0]}: {reason}"
        hint = "The account lacks the affiliation this needs ('xiot pubsub affiliations')"
    elif info.detail == "precondition-not-met":
        message = f"{service} refused to {what} on '{node}': the node's configuration does " \
            "not match the publish options (precondition-not-met)"
        hint = _hint(info)
    elif info.condition == "conflict":
        message = f"cannot {what}: {where} already exists" if node else f"{what}: {reason}"
        hint = "Choose another node name, or configure the existing node"
    else:
        message = f"{service} refused to {what}" + (f" on '{node}'" if node else "") + \
            f": {reason}"
        hint = _hint(info)
    return RemoteError(message, hint, condition=info.condition)


def _hint(info: ErrorInfo) -> str:
    if info.detail == "precondition-not-met":
        return "The node's configuration does not match the publish options; compare them " \
               "with 'xiot pubsub config get NODE'"
    if info.detail in ("invalid-options", "unsupported-access-model") or \
            info.condition in ("not-acceptable", "bad-request"):
        return "Check the values against 'xiot pubsub config get' or 'config default'"
    if info.condition == "feature-not-implemented":
        return "The server does not implement this; 'xiot pubsub features' lists what it does"
    return "See the error condition in RFC 6120 section 8.3.3 and XEP-0060 section 7-8"


# ------------------------------------------------------------------------------ elements


def pubsub(owner: bool = False) -> ET.Element:
    return ET.Element(q(NS_OWNER if owner else NS, "pubsub"))


def submit_form(form_type: str, values: Mapping[str, Sequence[str]]) -> ET.Element:
    """A ``submit`` data form of ``form_type`` holding ``values`` (lexical, as lists)."""
    form = ET.Element(q(NS_DATA, "x"), {"type": "submit"})
    hidden = ET.SubElement(form, q(NS_DATA, "field"), {"var": "FORM_TYPE", "type": "hidden"})
    ET.SubElement(hidden, q(NS_DATA, "value")).text = form_type
    for var, texts in values.items():
        field = ET.SubElement(form, q(NS_DATA, "field"), {"var": var})
        for text in texts:
            ET.SubElement(field, q(NS_DATA, "value")).text = text
    return form


def child(element: ET.Element | None, *path: str) -> ET.Element | None:
    """The first descendant along ``path`` of qualified tags, or None."""
    for tag in path:
        if element is None:
            return None
        element = element.find(tag)
    return element


def check_jid(text: str, what: str = "JID") -> str:
    """A JID given by the user, normalised; ``UsageError`` if it is not one."""
    from xiot.xmpp.jid import parse_jid

    try:
        return str(parse_jid(text))
    except UsageError:
        raise
    except ValueError as exc:
        raise UsageError(f"bad {what} '{text}': {exc}") from None


def node_name(text: str) -> str:
    """A node name from the command line: non-empty, no control characters."""
    if not text or any(ord(c) < 32 for c in text):
        raise UsageError(f"bad node name {text!r}", "Give a non-empty name without control "
                         "characters")
    return text


def records(results: Iterable[Any]) -> list[dict[str, Any]]:
    return [r.to_record() for r in results]
