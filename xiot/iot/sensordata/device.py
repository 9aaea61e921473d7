"""The device side of XEP-0323: answer readout requests on a slixmpp stream.

Used by simulated devices and concentrators.  The server takes the slixmpp client it runs on
(not a ``Session``): a device owns its stream and has no operator-side state to keep.
"""

from __future__ import annotations

import asyncio
import inspect
import logging
import xml.etree.ElementTree as ET
from collections.abc import AsyncIterator, Awaitable, Callable, Collection, Sequence
from datetime import datetime
from typing import Any

from slixmpp import JID, Iq
from slixmpp.xmlstream.handler import Callback
from slixmpp.xmlstream.matcher import StanzaPath

from xiot.errors import XiotError
from xiot.iot.elements import error_reply
from xiot.iot.model import Field, NodeError, NodeRef, ReadoutRequest
from xiot.iot.sensordata.wire import build_failure, build_fields, parse_req, wanted

log = logging.getLogger(__name__)


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
        return not self.filter_fields or wanted(request, item)

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
