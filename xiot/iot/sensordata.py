"""XEP-0323 sensor data (``urn:xmpp:iot:sensordata``): stanzas, parser, client and device.

Target is version 0.6 (identical on the wire to 0.4/0.5).  Older peers are read tolerantly
(reference §9.2): ``rejected`` as a rejection, ``timeSpan`` as ``duration``, ``identification``
as ``identity``, a missing ``unit``, booleans written ``1``/``0``, no ``accepted``,
``fields``/``failure``/``started`` inside the IQ result, a separate ``done`` message, and
``cancel`` in an iq get or set.  We only ever emit the 0.6 form.

slixmpp ships ``xep_0323``, but it follows the 0.1/0.2 model and crashes on partial readouts,
so this module defines its own stanza classes.  Their plugin attributes are prefixed ``iot_``
so they never collide with slixmpp's plugin if someone loads it anyway.

The module also holds the small helpers that XEP-0325 and XEP-0326 reuse: ``node`` element
encoding (the same element in every IoT XEP) and stanza-error replies.
"""

from __future__ import annotations

import asyncio
import inspect
import logging
import random
import time as _time
import xml.etree.ElementTree as ET
from collections.abc import AsyncIterator, Awaitable, Callable, Collection, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, ClassVar

from slixmpp import JID, Iq, Message
from slixmpp.exceptions import IqError, IqTimeout
from slixmpp.xmlstream import ElementBase, register_stanza_plugin
from slixmpp.xmlstream.handler import Callback
from slixmpp.xmlstream.matcher import StanzaPath
from slixmpp.xmlstream.matcher.base import MatcherBase

from xiot.errors import XiotError
from xiot.iot.model import (
    FIELD_CATEGORIES,
    FIELD_TYPE_ALIASES,
    FIELD_TYPES,
    HISTORICAL_CATEGORIES,
    QOS_FLAGS,
    Field,
    NodeError,
    NodeRef,
    Reading,
    ReadingStatus,
    ReadoutRequest,
    decimals_of,
    format_bool,
    format_datetime,
    parse_bool,
    parse_datetime,
    parse_value,
)

if TYPE_CHECKING:
    from xiot.xmpp.session import Session

log = logging.getLogger(__name__)

NS = "urn:xmpp:iot:sensordata"
TOKEN_ATTRIBUTES: tuple[str, ...] = ("serviceToken", "deviceToken", "userToken")

#: Attribute spellings older peers and the XEP's own examples use, mapped to the 0.6 name.
CATEGORY_ALIASES = {"identification": "identity"}

#: Stanza-error conditions that mean "the device said no" rather than "it is not there".
REJECT_CONDITIONS = frozenset(
    {
        "forbidden",
        "not-authorized",
        "item-not-found",
        "bad-request",
        "not-allowed",
        "not-acceptable",
        "policy-violation",
    }
)
#: Conditions a server sends when the addressed resource is not online (or does not exist).
OFFLINE_CONDITIONS = frozenset(
    {
        "service-unavailable",
        "recipient-unavailable",
        "remote-server-not-found",
        "remote-server-timeout",
        "gone",
    }
)
DEFAULT_ERROR_TYPES = {
    "bad-request": "modify",
    "conflict": "wait",
    "not-acceptable": "modify",
}

_MAX_SEQNR = 2**31 - 1


# ---------------------------------------------------------------------------------------------
# Stanza classes
# ---------------------------------------------------------------------------------------------


class _SeqnrElement(ElementBase):
    """Base for every element correlated by ``seqnr``; exposes it as an int."""

    namespace = NS
    interfaces: ClassVar[set[str]] = {"seqnr"}

    def get_seqnr(self) -> int | None:
        try:
            return int(self.xml.get("seqnr", ""))
        except ValueError:
            return None

    def set_seqnr(self, value: int) -> None:
        self.xml.set("seqnr", str(int(value)))


class _DoneFlag(_SeqnrElement):
    interfaces: ClassVar[set[str]] = {"seqnr", "done"}

    def get_done(self) -> bool:
        return _flag(self.xml, "done")

    def set_done(self, value: bool) -> None:
        _set_flag(self.xml, "done", value)


class Req(_SeqnrElement):
    """``req``: the readout request (iq get, client to device)."""

    name = "req"
    plugin_attrib = "iot_req"


class Accepted(_SeqnrElement):
    """``accepted``: the device took the request; ``queued`` if it will run later."""

    name = "accepted"
    plugin_attrib = "iot_accepted"
    interfaces: ClassVar[set[str]] = {"seqnr", "queued"}

    def get_queued(self) -> bool:
        return _flag(self.xml, "queued")

    def set_queued(self, value: bool) -> None:
        _set_flag(self.xml, "queued", value)


class Started(_SeqnrElement):
    """``started``: a queued request began (message)."""

    name = "started"
    plugin_attrib = "iot_started"


class Fields(_DoneFlag):
    """``fields``: part of the readout (message), ``done`` on the last one."""

    name = "fields"
    plugin_attrib = "iot_fields"


class Failure(_DoneFlag):
    """``failure``: errors for part of the readout (message)."""

    name = "failure"
    plugin_attrib = "iot_failure"


class Done(_SeqnrElement):
    """``done``: a separate end-of-readout marker (message)."""

    name = "done"
    plugin_attrib = "iot_done"


class Cancel(_SeqnrElement):
    """``cancel``: the client withdraws a (queued) request."""

    name = "cancel"
    plugin_attrib = "iot_cancel"


class Cancelled(_SeqnrElement):
    """``cancelled``: the device's answer to ``cancel``."""

    name = "cancelled"
    plugin_attrib = "iot_cancelled"


class Rejected(_SeqnrElement):
    """``rejected``: the 0.1/0.2 rejection payload inside an iq error (read, never sent)."""

    name = "rejected"
    plugin_attrib = "iot_rejected"


_IQ_PAYLOADS = (Req, Accepted, Started, Fields, Failure, Done, Cancel, Cancelled, Rejected)
_MESSAGE_PAYLOADS = (Started, Fields, Failure, Done)


def register_stanzas() -> None:
    """Register the sensor-data payloads on ``Iq`` and ``Message`` (idempotent)."""
    for payload in _IQ_PAYLOADS:
        register_stanza_plugin(Iq, payload)
    for payload in _MESSAGE_PAYLOADS:
        register_stanza_plugin(Message, payload)


register_stanzas()


# ---------------------------------------------------------------------------------------------
# Small XML helpers (shared with control and concentrator)
# ---------------------------------------------------------------------------------------------


def _q(tag: str, ns: str = NS) -> str:
    return f"{{{ns}}}{tag}"


def _flag(element: ET.Element, name: str) -> bool:
    """Read an ``xs:boolean`` attribute, default false; garbage counts as false."""
    text = element.get(name)
    if text is None:
        return False
    try:
        return parse_bool(text)
    except ValueError:
        return False


def _set_flag(element: ET.Element, name: str, value: bool) -> None:
    """Write a boolean attribute only when true, as the XEP's examples do."""
    if value:
        element.set(name, "true")
    elif name in element.attrib:
        del element.attrib[name]


def node_to_xml(parent: ET.Element, node: NodeRef, ns: str = NS, tag: str = "node") -> ET.Element:
    """Append a ``node`` element (``nodeId``, ``sourceId``, ``cacheType``) to ``parent``."""
    element = ET.SubElement(parent, _q(tag, ns), {"nodeId": node.node_id})
    if node.source_id is not None:
        element.set("sourceId", node.source_id)
    if node.cache_type is not None:
        element.set("cacheType", node.cache_type)
    return element


def node_from_xml(element: ET.Element) -> NodeRef:
    """Read a node reference; ``id`` is accepted for ``nodeId`` (XEP-0326 responses use it)."""
    return NodeRef(
        element.get("nodeId") or element.get("id") or "",
        element.get("sourceId"),
        element.get("cacheType"),
    )


def nodes_from_xml(parent: ET.Element, ns: str = NS) -> tuple[NodeRef, ...]:
    return tuple(node_from_xml(n) for n in parent.findall(_q("node", ns)))


def error_reply(
    iq: Iq,
    condition: str,
    text: str | None = None,
    etype: str | None = None,
    extensions: Iterable[ET.Element] = (),
) -> Iq:
    """Build an iq error answering ``iq`` with a standard condition and optional extensions."""
    reply = iq.reply(clear=True)
    reply["type"] = "error"
    reply["error"]["type"] = etype or DEFAULT_ERROR_TYPES.get(condition, "cancel")
    reply["error"]["condition"] = condition
    if text:
        reply["error"]["text"] = text
    for extension in extensions:
        reply["error"].xml.append(extension)
    return reply


@dataclass(frozen=True, slots=True)
class StanzaErrorInfo:
    """The parts of an iq error we report: condition, text and the legacy payload's texts."""

    condition: str | None
    text: str | None
    legacy_texts: tuple[str, ...] = ()

    def describe(self) -> str:
        parts = [p for p in (self.condition, self.text, *self.legacy_texts) if p]
        return ": ".join(parts) if parts else "unspecified error"


def error_info(iq: Iq) -> StanzaErrorInfo:
    """Extract what an iq error says, including a 0.1/0.2 ``rejected`` payload."""
    error_el = iq.xml.find("{jabber:client}error")
    condition = iq["error"]["condition"] or None if error_el is not None else None
    text = iq["error"]["text"] or None if error_el is not None else None
    rejected = iq.xml.find(_q("rejected"))
    legacy: tuple[str, ...] = ()
    if rejected is not None:
        legacy = tuple((e.text or "").strip() for e in rejected if e.tag.endswith("}error"))
    return StanzaErrorInfo(condition, text, legacy)


# ---------------------------------------------------------------------------------------------
# req: build and parse
# ---------------------------------------------------------------------------------------------


def build_req(req: ET.Element, seqnr: int, request: ReadoutRequest) -> ET.Element:
    """Fill a ``req`` element from a ``ReadoutRequest``."""
    req.set("seqnr", str(seqnr))
    for name in _category_attributes(request.categories):
        req.set(name, "true")
    for attribute, stamp in (("from", request.from_), ("to", request.to), ("when", request.when)):
        if stamp is not None:
            req.set(attribute, format_datetime(stamp))
    for name, token in request.tokens.items():
        req.set(name, token)
    for node in request.nodes:
        node_to_xml(req, node)
    for name in sorted(request.fields):
        ET.SubElement(req, _q("field"), {"name": name})
    return req


def _category_attributes(categories: frozenset[str]) -> list[str]:
    """The shortest attribute set meaning ``categories``; empty means ``all``."""
    if not categories or categories >= set(FIELD_CATEGORIES):
        return ["all"]
    names = [c for c in FIELD_CATEGORIES if c in categories and c not in HISTORICAL_CATEGORIES]
    if categories >= set(HISTORICAL_CATEGORIES):
        return [*names, "historical"]
    return names + [c for c in HISTORICAL_CATEGORIES if c in categories]


def parse_req(req: ET.Element) -> tuple[int, ReadoutRequest]:
    """Read a ``req`` element (device side).  Raises ``ValueError`` if it is malformed."""
    seqnr = _seqnr_of(req)
    names = [*FIELD_CATEGORIES, "all", "historical", *CATEGORY_ALIASES]
    categories = {CATEGORY_ALIASES.get(n, n) for n in names if _flag(req, n)}
    stamps = {a: _optional_datetime(req.get(a)) for a in ("from", "to", "when")}
    request = ReadoutRequest(
        fields=frozenset(f.get("name", "") for f in req.findall(_q("field"))),
        categories=frozenset(categories),
        from_=stamps["from"],
        to=stamps["to"],
        when=stamps["when"],
        nodes=nodes_from_xml(req),
        tokens={t: req.get(t, "") for t in TOKEN_ATTRIBUTES if req.get(t) is not None},
    )
    return seqnr, request


def _seqnr_of(element: ET.Element) -> int:
    try:
        return int(element.get("seqnr", ""))
    except ValueError as exc:
        raise ValueError(f"missing or malformed seqnr on {element.tag}") from exc


def _optional_datetime(text: str | None) -> datetime | None:
    return parse_datetime(text) if text else None


# ---------------------------------------------------------------------------------------------
# fields / failure: build and parse
# ---------------------------------------------------------------------------------------------


def build_fields(
    parent: ET.Element, fields: Sequence[Field], default_node: NodeRef, now: datetime | None = None
) -> ET.Element:
    """Append ``node``/``timestamp``/value elements for ``fields`` to a ``fields`` element.

    Fields keep their order; consecutive fields sharing node and timestamp share elements.
    Fields without a node go under ``default_node`` (the wrapper is mandatory in 0.6), fields
    without a timestamp get ``now``.
    """
    stamp_now = now or datetime.now(UTC).replace(microsecond=0)
    node_el: ET.Element | None = None
    ts_el: ET.Element | None = None
    current_node: NodeRef | None = None
    current_ts: datetime | None = None
    for item in fields:
        node = item.node or default_node
        stamp = item.timestamp or stamp_now
        if node_el is None or node != current_node:
            node_el, current_node, ts_el = node_to_xml(parent, node), node, None
        if ts_el is None or stamp != current_ts:
            ts_el = ET.SubElement(node_el, _q("timestamp"), {"value": format_datetime(stamp)})
            current_ts = stamp
        ts_el.append(field_to_xml(item))
    return parent


def field_to_xml(item: Field) -> ET.Element:
    """One value element with its common attributes."""
    element = ET.Element(_q(item.type), {"name": item.name, "value": item.lexical})
    if item.type == "numeric":
        element.set("unit", item.unit or "")
    if item.type == "enum":
        element.set("dataType", item.data_type or "")
    for name in FIELD_CATEGORIES:
        if name in item.categories:
            element.set(name, "true")
    for name in QOS_FLAGS:
        if name in item.flags:
            element.set(name, "true")
    if item.writable is not None:
        element.set("writable", format_bool(item.writable))
    if item.module is not None:
        element.set("module", item.module)
    if item.string_ids is not None:
        element.set("stringIds", item.string_ids)
    return element


def parse_fields(fields_el: ET.Element) -> tuple[list[Field], list[str]]:
    """Parse a ``fields`` element into fields plus a list of problems found on the way.

    A malformed field is reported and skipped rather than failing the whole message, so one
    bad value from a device does not hide its other values.  ``timestamp`` directly under
    ``fields`` (no ``node`` wrapper) is accepted, with no node.
    """
    found: list[Field] = []
    problems: list[str] = []
    for child in fields_el:
        if child.tag == _q("node"):
            node = node_from_xml(child)
            for ts_el in child.findall(_q("timestamp")):
                _parse_timestamp(ts_el, node, found, problems)
        elif child.tag == _q("timestamp"):
            _parse_timestamp(child, None, found, problems)
    return found, problems


def _parse_timestamp(
    ts_el: ET.Element, node: NodeRef | None, found: list[Field], problems: list[str]
) -> None:
    where = node.node_id if node else "?"
    stamp: datetime | None = None
    try:
        stamp = parse_datetime(ts_el.get("value", ""))
    except ValueError:
        problems.append(f"{where}: malformed timestamp {ts_el.get('value')!r}")
    for value_el in ts_el:
        try:
            found.append(field_from_xml(value_el, node, stamp))
        except ValueError as exc:
            problems.append(f"{where}/{value_el.get('name', '?')}: {exc}")


def field_from_xml(element: ET.Element, node: NodeRef | None, stamp: datetime | None) -> Field:
    """Parse one value element.  Raises ``ValueError`` for unknown types or bad values."""
    local = element.tag.rsplit("}", 1)[-1]
    kind = FIELD_TYPE_ALIASES.get(local, local)
    if kind not in FIELD_TYPES:
        raise ValueError(f"unknown field element {local!r}")
    raw = element.get("value")
    if raw is None:
        raise ValueError("field without a value")
    value: Any = parse_value(kind, raw)
    categories, flags = _categories_and_flags(element)
    writable = element.get("writable")
    return Field(
        name=element.get("name", ""),
        type=kind,
        value=value,
        node=node,
        timestamp=stamp,
        unit=element.get("unit") if kind == "numeric" else None,
        decimals=decimals_of(raw) if kind == "numeric" else None,
        categories=categories,
        flags=flags,
        writable=_lenient_bool(writable),
        data_type=element.get("dataType") if kind == "enum" else None,
        module=element.get("module"),
        string_ids=element.get("stringIds"),
        raw=raw,
    )


#: attribute -> category, including the old spelling; and the QoS flag attributes.
_CATEGORY_ATTRIBUTES = {name: name for name in FIELD_CATEGORIES} | CATEGORY_ALIASES
_FLAG_ATTRIBUTES = frozenset(QOS_FLAGS)


def _categories_and_flags(element: ET.Element) -> tuple[frozenset[str], frozenset[str]]:
    """One pass over the attributes: a fleet readout parses thousands of fields."""
    categories: set[str] = set()
    flags: set[str] = set()
    for attribute, text in element.attrib.items():
        category = _CATEGORY_ATTRIBUTES.get(attribute)
        if category is not None:
            if _lenient_bool(text):
                categories.add(category)
        elif attribute in _FLAG_ATTRIBUTES and _lenient_bool(text):
            flags.add(attribute)
    return frozenset(categories), frozenset(flags)


def _lenient_bool(text: str | None) -> bool | None:
    if text is None:
        return None
    try:
        return parse_bool(text)
    except ValueError:
        return None


def build_failure(parent: ET.Element, errors: Sequence[NodeError], default_node: NodeRef) -> None:
    """Append ``error`` children (``nodeId``, ``timestamp``, text) to a ``failure`` element."""
    for error in errors:
        node = error.node or default_node
        stamp = error.timestamp or datetime.now(UTC).replace(microsecond=0)
        element = ET.SubElement(parent, _q("error"), {"nodeId": node.node_id})
        if node.source_id is not None:
            element.set("sourceId", node.source_id)
        if node.cache_type is not None:
            element.set("cacheType", node.cache_type)
        element.set("timestamp", format_datetime(stamp))
        element.text = error.message


def parse_failure(failure_el: ET.Element) -> list[NodeError]:
    """Parse the ``error`` children of ``failure``; a bad timestamp is dropped, not fatal."""
    errors = []
    for element in failure_el.findall(_q("error")):
        try:
            stamp = _optional_datetime(element.get("timestamp"))
        except ValueError:
            stamp = None
        node = node_from_xml(element) if element.get("nodeId") else None
        errors.append(NodeError((element.text or "").strip(), node, stamp))
    return errors


# ---------------------------------------------------------------------------------------------
# stringIds (localisation, display only)
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class StringIdStep:
    """One step of a ``stringIds`` value: ``ID[|Module[|Seed]]``."""

    string_id: int
    module: str | None = None
    seed: str | None = None


def parse_string_ids(text: str) -> tuple[StringIdStep, ...]:
    """Parse ``stringIds``.  Raises ``ValueError`` if a step does not start with an integer."""
    steps = []
    for part in text.split(","):
        pieces = part.split("|", 2)
        if not pieces[0].strip().isdigit():
            raise ValueError(f"bad stringIds step {part!r}")
        module = pieces[1] if len(pieces) > 1 and pieces[1] else None
        seed = pieces[2] if len(pieces) > 2 else None
        steps.append(StringIdStep(int(pieces[0]), module, seed))
    return tuple(steps)


def localise(
    steps: Sequence[StringIdStep],
    lookup: Callable[[str | None, int], str | None],
    module: str | None = None,
) -> str | None:
    """Compose a localised name: each step's string may use ``%0%`` (previous) and ``%1%`` (seed).

    ``lookup(module, id)`` returns the template or None; None anywhere yields None so the
    caller falls back to the field's unlocalised name.
    """
    result = ""
    for step in steps:
        template = lookup(step.module or module, step.string_id)
        if template is None:
            return None
        result = template.replace("%0%", result).replace("%1%", step.seed or "")
    return result


# ---------------------------------------------------------------------------------------------
# Client
# ---------------------------------------------------------------------------------------------


@dataclass
class _ReadSession:
    """Mutable state of one outstanding readout; only the client's handlers touch it."""

    jid: JID
    seqnr: int
    request: ReadoutRequest
    fields: list[Field] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    accepted: bool = False
    queued: bool = False
    started: bool = False
    done: bool = False
    changed: asyncio.Event = field(default_factory=asyncio.Event)
    last_event: float = field(default_factory=_time.monotonic)

    def from_peer(self, sender: JID) -> bool:
        """Accept messages from the addressed JID, or any resource of a bare target."""
        if self.jid.resource:
            return sender == self.jid
        return sender.bare == self.jid.bare

    def touch(self) -> None:
        self.last_event = _time.monotonic()
        self.changed.set()

    def on_accepted(self, queued: bool) -> None:
        self.accepted = True
        self.queued = self.queued or queued
        self.touch()

    def on_started(self) -> None:
        self.accepted = self.started = True
        self.touch()

    def on_fields(self, element: ET.Element) -> None:
        found, problems = parse_fields(element)
        self.fields.extend(f for f in found if _wanted(self.request, f))
        self.errors.extend(problems)
        self._maybe_done(element)

    def on_failure(self, element: ET.Element) -> None:
        self.errors.extend(str(e) for e in parse_failure(element))
        self._maybe_done(element)

    def on_done(self) -> None:
        self.accepted = self.done = True
        self.touch()

    def _maybe_done(self, element: ET.Element) -> None:
        self.accepted = True
        self.done = self.done or _flag(element, "done")
        self.touch()


def _wanted(request: ReadoutRequest, item: Field) -> bool:
    """Client-side filter: the request is only a hint to the device (reference §2.2.8)."""
    if request.fields and item.name not in request.fields:
        return False
    return request.wants_category(item.categories) and request.wants_time(item.timestamp)


class _ClientState:
    """Per-connection client bookkeeping: the seqnr counter and outstanding sessions.

    Owned by the Session (``session.state(_ClientState)``), so it lives exactly as long as
    the connection; a lost connection wakes every outstanding readout at once.
    """

    def __init__(self, owner: Session) -> None:
        self.sessions: dict[int, _ReadSession] = {}
        self.lost: XiotError | None = None
        self._next = random.randint(1, _MAX_SEQNR // 2)
        self._register(owner.client)

    def connection_lost(self, error: XiotError) -> None:
        """The stream ended: every outstanding readout stops waiting."""
        self.lost = error
        for read_session in self.sessions.values():
            read_session.touch()

    def next_seqnr(self) -> int:
        """A positive xs:int unique among this connection's outstanding requests."""
        while True:
            self._next = self._next + 1 if self._next < _MAX_SEQNR else 1
            if self._next not in self.sessions:
                return self._next

    #: message child -> what it means for the readout session it belongs to
    _ROUTES: ClassVar[dict[str, Callable[[_ReadSession, ET.Element], None]]] = {
        _q("started"): lambda s, _e: s.on_started(),
        _q("fields"): lambda s, e: s.on_fields(e),
        _q("failure"): lambda s, e: s.on_failure(e),
        _q("done"): lambda s, _e: s.on_done(),
    }

    def _register(self, xmpp: Any) -> None:
        # One handler with a namespace test instead of one StanzaPath per element: every
        # incoming stanza is matched against every handler, thousands of times per readout.
        xmpp.register_handler(Callback("xiot-sensordata-messages", _SensorDataMessages(),
                                       self._route))

    def _route(self, msg: Message) -> None:
        for child in msg.xml:
            action = self._ROUTES.get(child.tag)
            if action is None:
                continue
            try:
                seqnr = int(child.get("seqnr", ""))
            except ValueError:
                continue
            session = self.sessions.get(seqnr)
            if session is None or not session.from_peer(msg["from"]):
                log.debug("ignoring %s for unknown seqnr from %s", child.tag, msg["from"])
                continue
            action(session, child)


class _SensorDataMessages(MatcherBase):
    """Matches messages that carry any XEP-0323 element."""

    def __init__(self) -> None:
        super().__init__(None)

    def match(self, xml: Any) -> bool:
        element = xml.xml
        if not element.tag.endswith("}message"):
            return False
        return any(child.tag.startswith(_NS_PREFIX) for child in element)


_NS_PREFIX = "{" + NS + "}"

async def read(
    owner: Session,
    jid: JID | str,
    request: ReadoutRequest | None = None,
    timeout: float = 10.0,
    *,
    cancel_on_timeout: bool = True,
) -> Reading:
    """Read one device (or the requested nodes behind a concentrator).

    ``timeout`` bounds every wait between two events from the device (reply, ``started``,
    each ``fields``); a queued request with ``when`` also waits until that time.  The result
    is always a ``Reading``: rejections, offline devices and timeouts are statuses, not
    exceptions, so that fleet readouts can report them side by side.
    """
    request = request or ReadoutRequest()
    target = JID(jid)
    xmpp = owner.client
    state = owner.state(_ClientState)
    owner.check_alive()
    session = _ReadSession(target, state.next_seqnr(), request)
    state.sessions[session.seqnr] = session
    started_at = _time.monotonic()
    try:
        outcome = await _exchange(owner, session, timeout, state)
    finally:
        state.sessions.pop(session.seqnr, None)
    if state.lost is not None:
        raise state.lost
    elapsed = (_time.monotonic() - started_at) * 1000
    if outcome is not None:
        status, errors, condition = outcome
        return Reading(
            str(target),
            status,
            (),
            errors,
            (),
            elapsed,
            _single_node(request),
            session.seqnr,
            condition,
        )
    if not session.done and session.accepted and cancel_on_timeout:
        _fire_and_forget_cancel(xmpp, target, session.seqnr)
    return build_reading(session, elapsed, timeout)


async def _exchange(
    owner: Session, session: _ReadSession, timeout: float, state: _ClientState
) -> tuple[ReadingStatus, tuple[str, ...], str | None] | None:
    """Send the request and collect messages; returns an early outcome for iq failures."""
    iq = owner.client.make_iq_get(ito=session.jid)
    build_req(iq["iot_req"].xml, session.seqnr, session.request)
    try:
        result = await owner.guard(iq.send(timeout=timeout))
    except IqError as exc:
        return _iq_error_outcome(exc.iq)
    except IqTimeout:
        if not session.fields and not session.done:
            return "timeout", (f"no answer within {timeout:g} s",), None
    else:
        _absorb_result(session, result)
    await _wait_until_done(session, timeout, state)
    return None


def _iq_error_outcome(iq: Iq) -> tuple[ReadingStatus, tuple[str, ...], str | None]:
    info = error_info(iq)
    if info.legacy_texts or iq.xml.find(_q("rejected")) is not None:
        # slixmpp invents feature-not-implemented for error iqs without <error>: ignore it
        texts = "; ".join(info.legacy_texts) or info.describe()
        return "rejected", (texts,), "rejected"
    if info.condition in OFFLINE_CONDITIONS:
        hint = "the device is offline, or the JID is not a device's full JID"
        return "offline", (f"{info.describe()} ({hint})",), info.condition
    if info.condition in REJECT_CONDITIONS:
        return "rejected", (info.describe(),), info.condition
    return "error", (info.describe(),), info.condition


def _absorb_result(session: _ReadSession, result: Iq) -> None:
    """Handle the IQ result, including payloads tolerant peers put there directly."""
    xml = result.xml
    accepted = xml.find(_q("accepted"))
    if accepted is not None:
        session.on_accepted(_flag(accepted, "queued"))
    else:
        session.accepted = True
    if xml.find(_q("started")) is not None:
        session.on_started()
    for element in xml:
        if element.tag == _q("fields"):
            session.on_fields(element)
        elif element.tag == _q("failure"):
            session.on_failure(element)
        elif element.tag == _q("done"):
            session.on_done()


async def _wait_until_done(session: _ReadSession, timeout: float, state: _ClientState
                           ) -> None:
    """Wait for completion; every event from the device restarts the inactivity timer."""
    while not session.done and state.lost is None:
        deadline = session.last_event + timeout + _queued_delay(session)
        remaining = deadline - _time.monotonic()
        if remaining <= 0:
            return
        session.changed.clear()
        try:
            await asyncio.wait_for(session.changed.wait(), remaining)
        except TimeoutError:
            continue


def _queued_delay(session: _ReadSession) -> float:
    """Extra patience for a queued request scheduled with ``when`` that has not started."""
    when = session.request.when
    if not session.queued or session.started or when is None:
        return 0.0
    now = datetime.now(when.tzinfo) if when.tzinfo else datetime.now()
    return max(0.0, (when - now).total_seconds())


def build_reading(session: _ReadSession, elapsed_ms: float, timeout: float) -> Reading:
    """Turn a finished (or abandoned) session into a ``Reading`` with status and gaps."""
    missing = _missing(session.request, session.fields)
    errors = list(session.errors)
    if not session.done:
        errors.append(f"timed out after {timeout:g} s waiting for the rest of the readout")
    status = _status(session.done, bool(session.fields), bool(session.errors),
                     _missing_matters(session.request, session.fields, missing))
    return Reading(
        jid=str(session.jid),
        status=status,
        fields=tuple(session.fields),
        errors=tuple(errors),
        missing=missing,
        elapsed_ms=elapsed_ms,
        node=_single_node(session.request),
        seqnr=session.seqnr,
    )


def _status(done: bool, has_fields: bool, has_errors: bool, has_missing: bool) -> ReadingStatus:
    if has_errors and not has_fields:
        return "error"
    if not done:
        return "partial" if has_fields else "timeout"
    return "partial" if has_errors or has_missing else "ok"


def _missing(request: ReadoutRequest, fields: Sequence[Field]) -> tuple[str, ...]:
    """Name what was asked for and did not arrive: nodes, fields, or node/field pairs."""
    seen = {(f.node.node_id if f.node else None, f.name) for f in fields}
    seen_nodes = {n for n, _ in seen}
    seen_names = {name for _, name in seen}
    wanted_nodes = [n.node_id for n in request.nodes]
    names = sorted(request.fields)
    if wanted_nodes and names:
        return tuple(f"{n}/{f}" for n in wanted_nodes for f in names if (n, f) not in seen)
    if wanted_nodes:
        return tuple(n for n in wanted_nodes if n not in seen_nodes)
    return tuple(f for f in names if f not in seen_names)


def _missing_matters(request: ReadoutRequest, fields: Sequence[Field],
                     missing: tuple[str, ...]) -> bool:
    """Whether what is missing makes a completed readout partial.

    A requested node that sent nothing is a gap.  Field names are a filter for a whole fleet
    (``--fields Temperature,Energy`` over thermometers and meters), so a device lacking some
    of them is fine; a device that returned none of them is reported (often a typo).
    """
    if not missing:
        return False
    if request.nodes:
        seen_nodes = {f.node.node_id for f in fields if f.node}
        if any(n.node_id not in seen_nodes for n in request.nodes):
            return True
    return bool(request.fields) and not any(f.name in request.fields for f in fields)


def _single_node(request: ReadoutRequest) -> str | None:
    return request.nodes[0].node_id if len(request.nodes) == 1 else None


def _fire_and_forget_cancel(xmpp: Any, jid: JID, seqnr: int) -> None:
    """Politely withdraw an abandoned request; nobody waits for the answer."""
    iq = xmpp.make_iq_get(ito=jid)
    iq["iot_cancel"]["seqnr"] = seqnr
    future = iq.send(timeout=5)
    future.add_done_callback(lambda f: f.cancelled() or f.exception())


async def cancel(xmpp: Any, jid: JID | str, seqnr: int, timeout: float = 10.0) -> bool:
    """Cancel a readout; True if the device confirmed with ``cancelled``."""
    iq = xmpp.make_iq_get(ito=JID(jid))
    iq["iot_cancel"]["seqnr"] = seqnr
    try:
        result = await iq.send(timeout=timeout)
    except (IqError, IqTimeout):
        return False
    return result.xml.find(_q("cancelled")) is not None


async def read_many(
    owner: Session,
    jids: Iterable[JID | str],
    request: ReadoutRequest | None = None,
    timeout: float = 10.0,
    concurrency: int = 100,
) -> AsyncIterator[Reading]:
    """Read many devices over one connection, yielding readings as they complete."""
    from xiot.fanout import bounded

    async for reading in bounded(jids, lambda target: read(owner, target, request, timeout),
                                 concurrency):
        yield reading


# ---------------------------------------------------------------------------------------------
# Device
# ---------------------------------------------------------------------------------------------

Batch = Sequence[Field | NodeError]
#: What a provider may return: one batch, an awaitable batch, or an async iterator of batches.
ProviderResult = Batch | Awaitable[Batch] | AsyncIterator[Batch]
Provider = Callable[[ReadoutRequest], ProviderResult]


class ReadoutRejected(Exception):
    """Raised by an ``authorize`` hook (or a provider, before any data) to refuse a request."""

    def __init__(self, condition: str = "forbidden", text: str | None = None) -> None:
        super().__init__(text or condition)
        self.condition = condition
        self.text = text


class SensorServer:
    """The device side of XEP-0323, for simulated devices and concentrators.

    ``provider(request)`` returns the values: a list of ``Field``/``NodeError`` (sent as one
    ``fields`` message with ``done``), an awaitable of such a list, or an async iterator of
    lists (one message per list; the last carries ``done``, or a separate ``done`` follows if
    ``separate_done``).  A plain list is answered synchronously inside the stanza handler, the
    cheap path that lets a thousand simulated devices share one process.
    """

    def __init__(
        self,
        xmpp: Any,
        provider: Provider,
        *,
        default_node: NodeRef | str = "Device01",
        nodes: Collection[NodeRef | str] | None = None,
        concentrator: bool = False,
        authorize: Callable[[JID, ReadoutRequest], None] | None = None,
        separate_done: bool = False,
        filter_fields: bool = True,
    ) -> None:
        self.xmpp = xmpp
        self.provider = provider
        self.default_node = NodeRef.coerce(default_node)
        self.nodes = tuple(NodeRef.coerce(n) for n in nodes) if nodes is not None else None
        self.concentrator = concentrator
        self.authorize = authorize
        self.separate_done = separate_done
        self.filter_fields = filter_fields
        self._jobs: dict[tuple[str, int], asyncio.Task[None]] = {}
        self._handler_names = (f"xiot-sensor-req-{id(self)}", f"xiot-sensor-cancel-{id(self)}")
        xmpp.register_handler(
            Callback(self._handler_names[0], StanzaPath("iq/iot_req"), self._on_req)
        )
        xmpp.register_handler(
            Callback(self._handler_names[1], StanzaPath("iq/iot_cancel"), self._on_cancel)
        )

    def close(self) -> None:
        """Remove the handlers and stop running readouts."""
        for name in self._handler_names:
            self.xmpp.remove_handler(name)
        for task in self._jobs.values():
            task.cancel()
        self._jobs.clear()

    # -- request handling --------------------------------------------------------------------

    def _on_req(self, iq: Iq) -> None:
        if iq["type"] not in ("get", "set"):
            return
        try:
            seqnr, request = parse_req(iq["iot_req"].xml)
        except (ValueError, XiotError) as exc:  # the model raises UsageError for bad names
            error_reply(iq, "bad-request", str(exc)).send()
            return
        refusal = self._refusal(iq["from"], request)
        if refusal is not None:
            error_reply(iq, refusal.condition, refusal.text).send()
            return
        self._start(iq, seqnr, request)

    def _refusal(self, requester: JID, request: ReadoutRequest) -> ReadoutRejected | None:
        if self.concentrator and not request.nodes:
            text = "Device is a concentrator: name the nodes to read."
            return ReadoutRejected("bad-request", text)
        if self.nodes is not None:
            unknown = [n for n in request.nodes if not any(n.matches(k) for k in self.nodes)]
            if unknown:
                names = ", ".join(n.node_id for n in unknown)
                return ReadoutRejected("item-not-found", f"Unknown node: {names}.")
        if self.authorize is not None:
            try:
                self.authorize(requester, request)
            except ReadoutRejected as refusal:
                return refusal
        return None

    def _start(self, iq: Iq, seqnr: int, request: ReadoutRequest) -> None:
        requester = iq["from"]
        delay = _delay_until(request.when)
        result: ProviderResult | None = None
        if delay <= 0:
            try:
                result = self.provider(request)
            except ReadoutRejected as refusal:
                error_reply(iq, refusal.condition, refusal.text).send()
                return
        reply = iq.reply(clear=True)
        reply["iot_accepted"]["seqnr"] = seqnr
        reply["iot_accepted"]["queued"] = delay > 0
        reply.send()
        if isinstance(result, Sequence):
            self._send_batch(requester, seqnr, result, request, last=True)
            return
        key = (str(requester), seqnr)
        task = asyncio.ensure_future(self._run(requester, seqnr, request, delay, result))
        self._jobs[key] = task
        task.add_done_callback(lambda _t: self._jobs.pop(key, None))

    async def _run(
        self,
        requester: JID,
        seqnr: int,
        request: ReadoutRequest,
        delay: float,
        result: ProviderResult | None,
    ) -> None:
        if delay > 0:
            await asyncio.sleep(delay)
            self._send(requester, "iot_started", seqnr)
            result = self.provider(request)
        try:
            await self._stream(requester, seqnr, request, result)
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # a broken provider must still end the readout
            log.warning("sensor provider failed: %s", exc)
            failure = [NodeError(f"Readout failed: {exc}", self.default_node)]
            self._send_batch(requester, seqnr, failure, request, last=True)

    async def _stream(
        self, requester: JID, seqnr: int, request: ReadoutRequest, result: ProviderResult | None
    ) -> None:
        if inspect.isawaitable(result):
            result = await result
        if isinstance(result, Sequence):
            self._send_batch(requester, seqnr, result, request, last=True)
            return
        assert result is not None and hasattr(result, "__anext__")
        pending: Batch | None = None
        async for batch in result:
            if pending is not None:
                self._send_batch(requester, seqnr, pending, request, last=False)
            pending = batch
        self._send_batch(requester, seqnr, pending or [], request, last=True)

    def _send_batch(
        self, requester: JID, seqnr: int, batch: Batch, request: ReadoutRequest, last: bool
    ) -> None:
        """Send one batch: errors as ``failure``, fields as ``fields``; mark the last one."""
        errors = [b for b in batch if isinstance(b, NodeError)]
        values = [b for b in batch if isinstance(b, Field) and self._keep(request, b)]
        inline_done = last and not self.separate_done
        if errors:
            self._send(
                requester,
                "iot_failure",
                seqnr,
                inline_done and not values,
                lambda el: build_failure(el, errors, self.default_node),
            )
        if values or (inline_done and not errors):
            self._send(
                requester,
                "iot_fields",
                seqnr,
                inline_done,
                lambda el: build_fields(el, values, self.default_node),
            )
        if last and self.separate_done:
            self._send(requester, "iot_done", seqnr)

    def _keep(self, request: ReadoutRequest, item: Field) -> bool:
        return not self.filter_fields or _wanted(request, item)

    def _send(
        self,
        requester: JID,
        attrib: str,
        seqnr: int,
        done: bool = False,
        fill: Callable[[ET.Element], object] | None = None,
    ) -> None:
        """Send a message carrying one payload, filled by ``fill`` before it leaves."""
        message = self.xmpp.make_message(mto=requester)
        payload = message[attrib]
        payload["seqnr"] = seqnr
        if done:
            payload["done"] = True
        if fill is not None:
            fill(payload.xml)
        message.send()

    # -- cancel ------------------------------------------------------------------------------

    def _on_cancel(self, iq: Iq) -> None:
        if iq["type"] not in ("get", "set"):
            return
        seqnr = iq["iot_cancel"]["seqnr"]
        task = self._jobs.pop((str(iq["from"]), seqnr), None) if seqnr is not None else None
        if task is None:
            error_reply(iq, "item-not-found", "No such readout.").send()
            return
        task.cancel()
        reply = iq.reply(clear=True)
        reply["iot_cancelled"]["seqnr"] = seqnr
        reply.send()


def _delay_until(when: datetime | None) -> float:
    """Seconds until ``when``; naive times are taken as local, as the XEP suggests."""
    if when is None:
        return 0.0
    now = datetime.now(when.tzinfo) if when.tzinfo else datetime.now()
    return (when - now).total_seconds()
