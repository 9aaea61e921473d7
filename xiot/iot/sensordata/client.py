"""The client side of XEP-0323: read devices over a ``Session``.

One readout is a ``req`` in an iq get, then messages (``started``, ``fields``, ``failure``,
``done``) correlated by ``seqnr``.  The per-connection bookkeeping (seqnr counter, outstanding
readouts, the one message handler) is Session state, so it lives exactly as long as the
connection and a lost connection wakes every waiting readout at once.  The result is always a
``Reading``: rejections, offline devices and timeouts are statuses, not exceptions, so a fleet
readout reports them side by side.
"""

from __future__ import annotations

import asyncio
import logging
import random
import time as _time
import xml.etree.ElementTree as ET
from collections.abc import AsyncIterator, Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any, ClassVar

from slixmpp import JID, Iq, Message
from slixmpp.exceptions import IqError, IqTimeout
from slixmpp.xmlstream.handler import Callback
from slixmpp.xmlstream.matcher.base import MatcherBase

from xiot.errors import UsageError, XiotError
from xiot.iot.elements import error_info, flag
from xiot.iot.model import Field, Reading, ReadingStatus, ReadoutRequest
from xiot.iot.sensordata.stanzas import NS_PREFIX, q
from xiot.iot.sensordata.wire import build_req, parse_failure, parse_fields, wanted
from xiot.xmpp.iq import IqDispatcher

if TYPE_CHECKING:
    from xiot.xmpp.session import Session

log = logging.getLogger(__name__)

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

_MAX_SEQNR = 2**31 - 1

#: Most fields one readout keeps from one device.  A device that goes on sending is stopped
#: there (the readout ends ``partial`` and says why) instead of growing memory without end.
MAX_FIELDS = 10_000
#: Most problem texts (malformed fields, node failures) one readout keeps from one device.
MAX_ERRORS = 100


@dataclass
class _ReadSession:
    """Mutable state of one outstanding readout; only the client's handlers touch it."""

    jid: JID
    seqnr: int
    request: ReadoutRequest
    max_fields: int = MAX_FIELDS
    fields: list[Field] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    dropped_errors: int = 0
    accepted: bool = False
    queued: bool = False
    started: bool = False
    done: bool = False
    overflow: bool = False
    changed: asyncio.Event = field(default_factory=asyncio.Event)
    sent_at: float = field(default_factory=_time.monotonic)

    def deadline(self, timeout: float) -> float:
        """When waiting ends: ``timeout`` after sending, or after ``when`` if it was queued.

        The bound is fixed from the start, never pushed back by what the device sends, so a
        device that keeps talking without ever saying ``done`` cannot hold the readout open.
        """
        end = self.sent_at + timeout
        when = self.request.when
        if self.queued and when is not None:
            now = datetime.now(when.tzinfo) if when.tzinfo else datetime.now()
            scheduled = _time.monotonic() + (when - now).total_seconds()
            end = max(end, scheduled + timeout)
        return end

    @property
    def finished(self) -> bool:
        return self.done or self.overflow

    def from_peer(self, sender: JID) -> bool:
        """Accept messages from the addressed JID, or any resource of a bare target."""
        if self.jid.resource:
            return sender == self.jid
        return sender.bare == self.jid.bare

    def touch(self) -> None:
        self.changed.set()

    def on_accepted(self, queued: bool) -> None:
        self.accepted = True
        self.queued = self.queued or queued
        self.touch()

    def on_started(self) -> None:
        self.accepted = self.started = True
        self.touch()

    def on_fields(self, element: ET.Element) -> None:
        if self.overflow:
            return
        found, problems = parse_fields(element)
        kept = [f for f in found if wanted(self.request, f)]
        room = self.max_fields - len(self.fields)
        if len(kept) > room:
            kept, self.overflow = kept[:room], True
        self.fields.extend(kept)
        self._add_errors(problems)
        self._maybe_done(element)

    def on_failure(self, element: ET.Element) -> None:
        self._add_errors([str(e) for e in parse_failure(element)])
        self._maybe_done(element)

    def _add_errors(self, texts: list[str]) -> None:
        room = max(MAX_ERRORS - len(self.errors), 0)
        self.errors.extend(texts[:room])
        self.dropped_errors += len(texts[room:])

    def on_done(self) -> None:
        self.accepted = self.done = True
        self.touch()

    def _maybe_done(self, element: ET.Element) -> None:
        self.accepted = True
        self.done = self.done or flag(element, "done")
        self.touch()


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
        q("started"): lambda s, _e: s.on_started(),
        q("fields"): lambda s, e: s.on_fields(e),
        q("failure"): lambda s, e: s.on_failure(e),
        q("done"): lambda s, _e: s.on_done(),
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
        return any(child.tag.startswith(NS_PREFIX) for child in element)


async def read(
    owner: Session,
    jid: JID | str,
    request: ReadoutRequest | None = None,
    timeout: float = 10.0,
    *,
    cancel_on_timeout: bool = True,
    max_fields: int = MAX_FIELDS,
) -> Reading:
    """Read one device (or the requested nodes behind a concentrator).

    ``timeout`` bounds the whole readout, from sending the request to the device's ``done``;
    a request the device queued for a ``when`` time may run until ``timeout`` after that
    time.  A device that sends more than ``max_fields`` fields is stopped there.  Either way
    the fields that arrived are kept, the reading is ``partial`` and says why, and the device
    is asked to cancel.  The result is always a ``Reading``: rejections, offline devices and
    timeouts are statuses, not exceptions, so that fleet readouts can report them side by side.
    """
    if max_fields < 1:
        raise UsageError(f"max_fields must be at least 1, not {max_fields}")
    request = request or ReadoutRequest()
    target = JID(jid)
    xmpp = owner.client
    state = owner.state(_ClientState)
    owner.check_alive()
    session = _ReadSession(target, state.next_seqnr(), request, max_fields)
    state.sessions[session.seqnr] = session
    try:
        outcome = await _exchange(owner, session, timeout, state)
    finally:
        state.sessions.pop(session.seqnr, None)
    if state.lost is not None:
        raise state.lost
    elapsed = (_time.monotonic() - session.sent_at) * 1000
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
    session.sent_at = _time.monotonic()
    try:
        # one handler for all outstanding readouts, replies found by id (xiot.xmpp.iq)
        result = await owner.state(IqDispatcher).send(iq, timeout)
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
    if info.legacy_texts or iq.xml.find(q("rejected")) is not None:
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
    accepted = xml.find(q("accepted"))
    if accepted is not None:
        session.on_accepted(flag(accepted, "queued"))
    else:
        session.accepted = True
    if xml.find(q("started")) is not None:
        session.on_started()
    for element in xml:
        if element.tag == q("fields"):
            session.on_fields(element)
        elif element.tag == q("failure"):
            session.on_failure(element)
        elif element.tag == q("done"):
            session.on_done()


async def _wait_until_done(session: _ReadSession, timeout: float, state: _ClientState
                           ) -> None:
    """Wait for completion, a full buffer, a lost stream or the readout's deadline."""
    while not session.finished and state.lost is None:
        remaining = session.deadline(timeout) - _time.monotonic()
        if remaining <= 0:
            return
        session.changed.clear()
        try:
            await asyncio.wait_for(session.changed.wait(), remaining)
        except TimeoutError:
            continue


def build_reading(session: _ReadSession, elapsed_ms: float, timeout: float) -> Reading:
    """Turn a finished (or abandoned) session into a ``Reading`` with status and gaps."""
    missing = _missing(session.request, session.fields)
    errors = list(session.errors)
    if session.dropped_errors:
        errors.append(f"{session.dropped_errors} more errors from the device not shown")
    if session.overflow:
        errors.append(f"stopped after {len(session.fields)} fields: the device sent more than "
                      f"the limit of {session.max_fields} fields per readout")
    elif not session.done:
        errors.append(_timeout_text(session, timeout))
    status = _status(session.done, bool(session.fields), bool(errors),
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


def _timeout_text(session: _ReadSession, timeout: float) -> str:
    waited = "the scheduled time" if session.queued and session.request.when else "the request"
    told = "sent fields but never said it was done" if session.fields else "sent no values"
    return (f"timed out {timeout:g} s after {waited}, waiting for the rest of the readout "
            f"(the device {told})")


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


async def cancel(owner: Session, jid: JID | str, seqnr: int, timeout: float = 10.0) -> bool:
    """Cancel a readout; True if the device confirmed with ``cancelled``."""
    iq = owner.client.make_iq_get(ito=JID(jid))
    iq["iot_cancel"]["seqnr"] = seqnr
    try:
        result = await owner.state(IqDispatcher).send(iq, timeout)
    except (IqError, IqTimeout):
        return False
    return result.xml.find(q("cancelled")) is not None


async def read_many(
    owner: Session,
    jids: Iterable[JID | str],
    request: ReadoutRequest | None = None,
    timeout: float = 10.0,
    concurrency: int = 100,
    *,
    max_fields: int = MAX_FIELDS,
) -> AsyncIterator[Reading]:
    """Read many devices over one connection, yielding readings as they complete."""
    from xiot.fanout import bounded

    async for reading in bounded(
        jids, lambda target: read(owner, target, request, timeout, max_fields=max_fields),
        concurrency,
    ):
        yield reading


