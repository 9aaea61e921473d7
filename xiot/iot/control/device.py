"""The device side of XEP-0325: validate and apply control requests on a device's stream.

Used by simulated devices and concentrators; it takes the slixmpp client the device runs on.
Every parameter is checked against every addressed node before anything is applied, so a
failing request changes nothing (XEP-0325 §3.3).
"""

from __future__ import annotations

import asyncio
import inspect
import logging
import math
import uuid
import xml.etree.ElementTree as ET
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from slixmpp import JID, Iq, Message
from slixmpp.xmlstream.handler import Callback
from slixmpp.xmlstream.matcher import StanzaPath

from xiot.iot.control.stanzas import NS, q
from xiot.iot.control.wire import (
    ParameterError,
    build_control_form,
    param_error_element,
    parse_set,
)
from xiot.iot.elements import error_reply, node_to_xml, nodes_from_xml
from xiot.iot.model import ControlParameter, NodeRef, ParameterSpec, parse_value
from xiot.xmpp.forms import DataForm, submitted_values

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class Applied:
    """Returned by ``on_set`` when only part of a request was applied (e.g. provisioning)."""

    nodes: tuple[NodeRef, ...] = ()
    parameters: tuple[str, ...] = ()


class ControlRejected(Exception):
    """Raised by ``on_set`` or ``authorize`` to refuse; names failing parameters if any."""

    def __init__(
        self,
        condition: str = "forbidden",
        text: str | None = None,
        parameters: Mapping[str, str] | None = None,
    ) -> None:
        super().__init__(text or condition)
        self.condition = condition
        self.text = text
        self.parameters = dict(parameters or {})


SetOutcome = Applied | Awaitable[Applied | None] | None
SetHandler = Callable[[tuple[ControlParameter, ...], tuple[NodeRef, ...]], SetOutcome]
ParameterSource = Sequence[ParameterSpec] | Callable[[NodeRef | None], Sequence[ParameterSpec]]

#: Widening conversions a device accepts (the sender may not know the exact type).
_WIDENING = {("int", "long"), ("int", "double"), ("long", "double")}


class ControlServer:
    """The device side of XEP-0325.

    ``parameters`` lists the device's control parameters, or is a callable giving them per
    node (for concentrators).  ``on_set(params, nodes)`` applies validated parameters in order;
    it may be sync or async, may return ``Applied`` for a partial application, and may raise
    ``ControlRejected``.  Every parameter is checked against every addressed node before
    ``on_set`` runs, so a failing request changes nothing.
    """

    def __init__(
        self,
        xmpp: Any,
        parameters: ParameterSource,
        on_set: SetHandler,
        *,
        title: str = "Control",
        nodes: Sequence[NodeRef | str] | None = None,
        authorize: Callable[[JID, tuple[NodeRef, ...]], None] | None = None,
        merge_forms: bool = True,
        accept_messages: bool = True,
    ) -> None:
        self.xmpp = xmpp
        self.parameters = parameters
        self.on_set = on_set
        self.title = title
        self.nodes = tuple(NodeRef.coerce(n) for n in nodes) if nodes is not None else None
        self.authorize = authorize
        self.merge_forms = merge_forms
        self.session = str(uuid.uuid4()).upper()
        self._tasks: set[asyncio.Future[Any]] = set()
        self._names = [f"xiot-control-{kind}-{id(self)}" for kind in ("iq", "msg", "form")]
        handlers = [
            (StanzaPath("iq@type=set/iot_set"), self._on_iq_set),
            (StanzaPath("message/iot_set"), self._on_message_set),
            (StanzaPath("iq@type=get/iot_getForm"), self._on_get_form),
        ]
        for name, (matcher, handler) in zip(self._names, handlers, strict=True):
            if name.endswith(f"msg-{id(self)}") and not accept_messages:
                continue
            xmpp.register_handler(Callback(name, matcher, handler))

    def close(self) -> None:
        for name in self._names:
            self.xmpp.remove_handler(name)
        for task in self._tasks:
            task.cancel()

    # -- parameter lookup and validation ------------------------------------------------------

    def specs_for(self, node: NodeRef | None) -> tuple[ParameterSpec, ...]:
        source = self.parameters
        return tuple(source(node) if callable(source) else source)

    def _check_nodes(self, nodes: tuple[NodeRef, ...]) -> None:
        if self.nodes is None:
            return
        for node in nodes:
            if not any(node.matches(known) for known in self.nodes):
                raise ControlRejected("item-not-found", f"Unknown node: {node.node_id}.")

    def validate(
        self, parameters: Sequence[ControlParameter], nodes: tuple[NodeRef, ...]
    ) -> tuple[ControlParameter, ...]:
        """Check every parameter on every node; return them converted to the device's types."""
        checked: list[ControlParameter] = list(parameters)
        for node in nodes or (None,):
            specs = {s.name: s for s in self.specs_for(node)}
            checked = [_check_parameter(p, specs) for p in parameters]
        return tuple(checked)

    def _from_form(
        self, form: DataForm, nodes: tuple[NodeRef, ...]
    ) -> tuple[ControlParameter, ...]:
        """Turn a submitted form into typed parameters, in the device's declared order."""
        specs = self.specs_for(nodes[0] if nodes else None)
        by_name = {s.name: s for s in specs}
        values = submitted_values(form)
        for name in values:
            if name not in by_name:
                raise ParameterError(name, "Unknown parameter.")
        result = []
        for spec in specs:
            if spec.name in values:
                result.append(_typed_from_text(spec, values[spec.name]))
        return tuple(result)

    # -- handlers ----------------------------------------------------------------------------

    def _on_iq_set(self, iq: Iq) -> None:
        try:
            request = parse_set(iq["iot_set"].xml)
            nodes = request.nodes
            self._check_nodes(nodes)
            if self.authorize is not None:
                self.authorize(iq["from"], nodes)
            params = (
                self._from_form(request.form, nodes)
                if request.form is not None
                else request.parameters
            )
            params = self.validate(params, nodes)
            outcome = self.on_set(params, nodes)
        except ParameterError as exc:
            extension = param_error_element(exc.name, exc.text)
            error_reply(iq, exc.condition, None, extensions=[extension]).send()
            return
        except ControlRejected as exc:
            self._reject(iq, exc)
            return
        if inspect.isawaitable(outcome):
            self._later(iq, outcome)
        else:
            self._reply_applied(iq, outcome)

    def _reject(self, iq: Iq, exc: ControlRejected) -> None:
        extensions = [param_error_element(n, t) for n, t in exc.parameters.items()]
        error_reply(iq, exc.condition, exc.text, extensions=extensions).send()

    def _later(self, iq: Iq, outcome: Awaitable[Applied | None]) -> None:
        async def finish() -> None:
            try:
                applied = await outcome
            except ControlRejected as exc:
                self._reject(iq, exc)
                return
            except Exception as exc:
                log.warning("control handler failed: %s", exc)
                error_reply(iq, "internal-server-error", "Control failed.").send()
                return
            self._reply_applied(iq, applied)

        task = asyncio.ensure_future(finish())
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def _reply_applied(self, iq: Iq, applied: Applied | None) -> None:
        reply = iq.reply(clear=True)
        response = reply["iot_setResponse"].xml
        if applied is not None:
            for node in applied.nodes:
                node_to_xml(response, node, NS)
            for name in applied.parameters:
                ET.SubElement(response, q("parameter"), {"name": name})
        reply.send()

    def _on_message_set(self, msg: Message) -> None:
        """Fire-and-forget control: nobody hears about failures, so they are only logged."""
        try:
            request = parse_set(msg["iot_set"].xml)
            self._check_nodes(request.nodes)
            if self.authorize is not None:
                self.authorize(msg["from"], request.nodes)
            params = self.validate(request.parameters, request.nodes)
            outcome = self.on_set(params, request.nodes)
        except (ParameterError, ControlRejected) as exc:
            log.debug("ignored control message from %s: %s", msg["from"], exc)
            return
        if inspect.isawaitable(outcome):
            task = asyncio.ensure_future(outcome)
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)

    def _on_get_form(self, iq: Iq) -> None:
        nodes = nodes_from_xml(iq["iot_getForm"].xml, NS)
        try:
            self._check_nodes(nodes)
            if self.authorize is not None:
                self.authorize(iq["from"], nodes)
            specs = self._common_specs(nodes)
        except ControlRejected as exc:
            self._reject(iq, exc)
            return
        title = ", ".join(n.node_id for n in nodes) if len(nodes) > 1 else self.title
        reply = iq.reply(clear=True)
        reply.append(build_control_form(specs, self.session, title))
        reply.send()

    def _common_specs(self, nodes: tuple[NodeRef, ...]) -> tuple[ParameterSpec, ...]:
        """Parameters shared (same name and type) by every addressed node."""
        if len(nodes) <= 1:
            return self.specs_for(nodes[0] if nodes else None)
        if not self.merge_forms:
            text = "Cannot merge control forms from different nodes."
            raise ControlRejected("feature-not-implemented", text)
        per_node = [self.specs_for(n) for n in nodes]
        shared = set.intersection(*({(s.name, s.type) for s in specs} for specs in per_node))
        return tuple(s for s in per_node[0] if (s.name, s.type) in shared)


def _check_parameter(
    parameter: ControlParameter, specs: Mapping[str, ParameterSpec]
) -> ControlParameter:
    spec = specs.get(parameter.name)
    if spec is None:
        raise ParameterError(parameter.name, "Unknown parameter.", "item-not-found")
    value = parameter.value
    if parameter.type != spec.type:
        if (parameter.type, spec.type) not in _WIDENING:
            raise ParameterError(parameter.name, "Invalid parameter type.")
        value = float(value) if spec.type == "double" else int(value)
    _check_bounds(spec, value)
    return ControlParameter(spec.name, spec.type, value)


def _check_bounds(spec: ParameterSpec, value: Any) -> None:
    if spec.options and str(value) not in spec.options:
        raise ParameterError(spec.name, "Invalid parameter value.")
    if spec.type not in ("int", "long", "double"):
        return
    if isinstance(value, float) and not math.isfinite(value):
        raise ParameterError(spec.name, "Not a finite number.")
    if spec.minimum is not None and value < spec.minimum:
        raise ParameterError(spec.name, "Invalid parameter value.")
    if spec.maximum is not None and value > spec.maximum:
        raise ParameterError(spec.name, "Invalid parameter value.")


def _typed_from_text(spec: ParameterSpec, text: str) -> ControlParameter:
    try:
        value = parse_value(spec.type, text)
    except ValueError as exc:
        raise ParameterError(spec.name, "Invalid parameter value.") from exc
    return ControlParameter(spec.name, spec.type, value)

