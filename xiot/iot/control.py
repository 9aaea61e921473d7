"""XEP-0325 control (``urn:xmpp:iot:control``, version 0.5.1): stanzas, client and device.

On the wire 0.5.1 equals 0.3: a ``set`` with typed parameters (by message, unacknowledged, or
by iq), an empty ``setResponse`` on success (or one listing what was actually applied),
standard stanza errors with ``paramError`` children naming the failing parameters, and
``getForm`` answered by a bare XEP-0004 form.  Responses from 0.1/0.2 peers (slixmpp's
plugin among them) are read tolerantly: ``setResponse`` with ``responseCode`` or ``result`` and
``<error var>`` children, in an iq result or error; ``paramError`` with ``n`` instead of ``var``.
"""

from __future__ import annotations

import asyncio
import inspect
import logging
import math
import time as _time
import uuid
import xml.etree.ElementTree as ET
from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from slixmpp import JID, Iq, Message
from slixmpp.exceptions import IqError, IqTimeout
from slixmpp.xmlstream import ElementBase, register_stanza_plugin
from slixmpp.xmlstream.handler import Callback
from slixmpp.xmlstream.matcher import StanzaPath

from xiot.errors import RemoteError, Timeout, UsageError
from xiot.iot.model import (
    PARAMETER_TYPES,
    ControlParameter,
    ControlResult,
    NodeRef,
    ParameterSpec,
    format_value,
    parse_value,
)
from xiot.iot.sensordata import (
    TOKEN_ATTRIBUTES,
    error_info,
    error_reply,
    node_to_xml,
    nodes_from_xml,
)
from xiot.xmpp.forms import (
    PARAMETER_TO_DATATYPE,
    SESSION_VAR,
    DataForm,
    FormField,
    FormOption,
    FormPage,
    build_form,
    build_submit,
    find_form,
    parse_form,
    submitted_values,
)

log = logging.getLogger(__name__)

NS = "urn:xmpp:iot:control"


def _q(tag: str, ns: str = NS) -> str:
    return f"{{{ns}}}{tag}"


# ---------------------------------------------------------------------------------------------
# Stanza classes
# ---------------------------------------------------------------------------------------------


class Set(ElementBase):
    """``set``: parameters (or a submitted form) to apply, in iq set or message."""

    name = "set"
    namespace = NS
    plugin_attrib = "iot_set"


class SetResponse(ElementBase):
    """``setResponse``: success, possibly listing the nodes/parameters actually used."""

    name = "setResponse"
    namespace = NS
    plugin_attrib = "iot_setResponse"


class GetForm(ElementBase):
    """``getForm``: ask for the control form (iq get)."""

    name = "getForm"
    namespace = NS
    plugin_attrib = "iot_getForm"


def register_stanzas() -> None:
    """Register the control payloads on ``Iq`` and ``Message`` (idempotent)."""
    for payload in (Set, SetResponse, GetForm):
        register_stanza_plugin(Iq, payload)
    register_stanza_plugin(Message, Set)


register_stanzas()


# ---------------------------------------------------------------------------------------------
# set: build and parse
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class SetRequest:
    """A parsed ``set``: target nodes, typed parameters or a submitted form, tokens."""

    nodes: tuple[NodeRef, ...] = ()
    parameters: tuple[ControlParameter, ...] = ()
    form: DataForm | None = None
    tokens: Mapping[str, str] | None = None


def build_set(
    element: ET.Element,
    parameters: Sequence[ControlParameter] = (),
    nodes: Sequence[NodeRef] = (),
    form: ET.Element | None = None,
    tokens: Mapping[str, str] | None = None,
) -> ET.Element:
    """Fill a ``set`` element; parameter order is kept because devices apply it in order."""
    for name, token in (tokens or {}).items():
        element.set(name, token)
    for node in nodes:
        node_to_xml(element, node, NS)
    for parameter in parameters:
        ET.SubElement(
            element, _q(parameter.type), {"name": parameter.name, "value": parameter.lexical}
        )
    if form is not None:
        element.append(form)
    return element


def parse_set(element: ET.Element) -> SetRequest:
    """Read a ``set`` (device side).  Raises ``ValueError`` naming a malformed parameter."""
    parameters = []
    form_el = find_form(element)
    for child in element:
        local = child.tag.rsplit("}", 1)[-1]
        if child.tag in (_q("node"),) or child is form_el:
            continue
        if local not in PARAMETER_TYPES or not child.tag.startswith(f"{{{NS}}}"):
            raise ParameterError(child.get("name", local), f"Unknown parameter type {local}.")
        name = child.get("name", "")
        try:
            value = parse_value(local, child.get("value", ""))
        except ValueError as exc:
            raise ParameterError(name, "Invalid parameter value.") from exc
        parameters.append(ControlParameter(name, local, value))
    tokens = {t: element.get(t, "") for t in TOKEN_ATTRIBUTES if element.get(t) is not None}
    return SetRequest(
        nodes=nodes_from_xml(element, NS),
        parameters=tuple(parameters),
        form=parse_form(form_el) if form_el is not None else None,
        tokens=tokens,
    )


class ParameterError(ValueError):
    """A parameter that cannot be applied; becomes ``paramError var=name`` on the wire."""

    def __init__(self, name: str, text: str, condition: str = "bad-request") -> None:
        super().__init__(f"{name}: {text}")
        self.name = name
        self.text = text
        self.condition = condition


def param_error_element(name: str, text: str) -> ET.Element:
    """A well-formed ``paramError`` (the XEP's own examples close it with ``</error>``)."""
    element = ET.Element(_q("paramError"), {"var": name})
    element.text = text
    return element


# ---------------------------------------------------------------------------------------------
# Client
# ---------------------------------------------------------------------------------------------


def _node_list(node: NodeRef | str | None, nodes: Iterable[NodeRef | str]) -> tuple[NodeRef, ...]:
    listed = [NodeRef.coerce(n) for n in nodes]
    if node is not None:
        listed.insert(0, NodeRef.coerce(node))
    return tuple(listed)


async def set_parameters(
    xmpp: Any,
    jid: JID | str,
    params: Sequence[ControlParameter],
    node: NodeRef | str | None = None,
    *,
    nodes: Iterable[NodeRef | str] = (),
    use_message: bool = False,
    timeout: float = 10.0,
    lang: str | None = None,
    tokens: Mapping[str, str] | None = None,
) -> ControlResult:
    """Set control parameters on a device (or on nodes behind a concentrator).

    With ``use_message`` the ``set`` goes in a message: the device never answers, so the
    result is ``ok`` with ``acknowledged=False``.  Otherwise the iq outcome is reported;
    errors are data in the result (``failed_parameters``, ``error``), not exceptions.
    """
    if not params:
        raise UsageError("nothing to set", "give at least one NAME[:TYPE]=VALUE")
    targets = _node_list(node, nodes)
    return await _send_set(
        xmpp,
        JID(jid),
        targets,
        timeout,
        use_message,
        lang,
        lambda el: build_set(el, params, targets, tokens=tokens),
    )


async def submit_form(
    xmpp: Any,
    jid: JID | str,
    values: Mapping[str, Any],
    form: DataForm | None = None,
    node: NodeRef | str | None = None,
    *,
    nodes: Iterable[NodeRef | str] = (),
    timeout: float = 10.0,
    lang: str | None = None,
) -> ControlResult:
    """Set parameters by submitting only the edited fields of the control form.

    Without ``form`` the form is fetched first, so values are checked and typed against the
    device's own declaration (unknown names and bad values raise ``UsageError`` before
    anything is sent).
    """
    targets = _node_list(node, nodes)
    if form is None:
        form = await get_form(xmpp, jid, nodes=targets, timeout=timeout, lang=lang)
    submit = build_submit(values, form)
    return await _send_set(
        xmpp,
        JID(jid),
        targets,
        timeout,
        False,
        lang,
        lambda el: build_set(el, (), targets, form=submit),
    )


async def _send_set(
    xmpp: Any,
    target: JID,
    targets: tuple[NodeRef, ...],
    timeout: float,
    use_message: bool,
    lang: str | None,
    fill: Callable[[ET.Element], object],
) -> ControlResult:
    node = targets[0].node_id if len(targets) == 1 else None
    started = _time.monotonic()
    stanza = xmpp.make_message(mto=target) if use_message else xmpp.make_iq_set(ito=target)
    payload = stanza["iot_set"]
    if lang:
        payload.xml.set("{http://www.w3.org/XML/1998/namespace}lang", lang)
    fill(payload.xml)
    if use_message:
        stanza.send()
        return ControlResult(str(target), True, node, acknowledged=False)
    try:
        result = await stanza.send(timeout=timeout)
    except IqError as exc:
        outcome = control_error(exc.iq)
    except IqTimeout:
        outcome = ControlResult(
            str(target), False, error=f"no answer within {timeout:g} s", condition="timeout"
        )
    else:
        outcome = control_success(result)
    elapsed = (_time.monotonic() - started) * 1000
    return _finish(outcome, str(target), node, elapsed)


def _finish(result: ControlResult, jid: str, node: str | None, elapsed: float) -> ControlResult:
    return ControlResult(
        jid=jid,
        ok=result.ok,
        node=node,
        failed_parameters=result.failed_parameters,
        error=result.error,
        condition=result.condition,
        acknowledged=result.acknowledged,
        applied_nodes=result.applied_nodes,
        applied_parameters=result.applied_parameters,
        elapsed_ms=elapsed,
    )


def control_success(iq: Iq) -> ControlResult:
    """Interpret an iq result: empty or listing ``setResponse``, or a legacy response code."""
    response = iq.xml.find(_q("setResponse"))
    if response is None:
        return ControlResult(str(iq["from"]), True)
    code = response.get("responseCode") or response.get("result")
    applied_nodes = nodes_from_xml(response, NS)
    applied = tuple(p.get("name", "") for p in response.findall(_q("parameter")))
    if code not in (None, "OK"):
        failed, texts = _legacy_errors(response)
        return ControlResult(str(iq["from"]), False, None, failed, "; ".join(texts) or code, code)
    return ControlResult(
        str(iq["from"]), True, applied_nodes=applied_nodes, applied_parameters=applied
    )


def control_error(iq: Iq) -> ControlResult:
    """Interpret an iq error: ``paramError`` children, or a 0.1/0.2 ``setResponse`` payload."""
    info = error_info(iq)
    error_el = iq.xml.find("{jabber:client}error")
    failed: list[str] = []
    texts: list[str] = []
    if error_el is not None:
        for param in error_el.findall(_q("paramError")):
            failed.append(param.get("var") or param.get("n") or "")
            texts.append(f"{failed[-1]}: {(param.text or '').strip()}")
    condition = info.condition
    legacy = iq.xml.find(_q("setResponse"))
    if legacy is not None:
        legacy_failed, legacy_texts = _legacy_errors(legacy)
        failed.extend(legacy_failed)
        texts.extend(legacy_texts)
        # the legacy code wins over the condition slixmpp invents when <error> is absent
        condition = legacy.get("responseCode") or legacy.get("result") or condition
    message = "; ".join(t for t in (info.text, *texts) if t) or info.describe()
    return ControlResult(str(iq["from"]), False, None, tuple(failed), message, condition)


def _legacy_errors(response: ET.Element) -> tuple[tuple[str, ...], list[str]]:
    errors = response.findall(_q("error"))
    failed = tuple(e.get("var", "") for e in errors)
    texts = [f"{e.get('var', '')}: {(e.text or '').strip()}" for e in errors]
    return failed, texts


async def get_form(
    xmpp: Any,
    jid: JID | str,
    node: NodeRef | str | None = None,
    *,
    nodes: Iterable[NodeRef | str] = (),
    timeout: float = 10.0,
    lang: str | None = None,
) -> DataForm:
    """Fetch the control form.  Raises ``RemoteError`` on refusal, ``Timeout`` on silence."""
    iq = xmpp.make_iq_get(ito=JID(jid))
    element = iq["iot_getForm"].xml
    if lang:
        element.set("{http://www.w3.org/XML/1998/namespace}lang", lang)
    for target in _node_list(node, nodes):
        node_to_xml(element, target, NS)
    try:
        result = await iq.send(timeout=timeout)
    except IqError as exc:
        info = error_info(exc.iq)
        raise RemoteError(
            f"{jid} refused the control form: {info.describe()}", condition=info.condition
        ) from exc
    except IqTimeout as exc:
        raise Timeout(f"{jid} sent no control form within {timeout:g} s") from exc
    return form_from_result(result, str(jid))


def form_from_result(result: Iq, jid: str = "") -> DataForm:
    """The form in a ``getForm`` result: bare (0.3+) or wrapped in ``getFormResponse`` (0.1/0.2)."""
    form_el = find_form(result.xml)
    wrapper = result.xml.find(_q("getFormResponse"))
    if form_el is None and wrapper is not None:
        form_el = find_form(wrapper)
    if form_el is None:
        raise RemoteError(f"{jid} answered getForm without a data form")
    return parse_form(form_el)


def parameters_from_form(form: DataForm, values: Mapping[str, Any]) -> tuple[ControlParameter, ...]:
    """Typed parameters for ``values``, typed by the form and ordered as the form lists them.

    Use this to send a typed ``set`` when the user gave only names and strings.  Raises
    ``UsageError`` for names not in the form and values that do not fit.
    """
    order = {f.var: i for i, f in enumerate(form.fields)}
    unknown = [name for name in values if name not in order or name == SESSION_VAR]
    if unknown:
        known = ", ".join(f.var for f in form.parameters)
        raise UsageError(f"the control form has no parameter {', '.join(unknown)}",
                         f"It offers: {known}" if known else
                         "It offers none: for a node behind a concentrator, add --node NODE")
    result = []
    for name in sorted(values, key=order.__getitem__):
        field = form.field(name)
        assert field is not None
        kind = field.parameter_type or "string"
        result.append(ControlParameter(name, kind, field.coerce(values[name])))
    return tuple(result)


# ---------------------------------------------------------------------------------------------
# Device
# ---------------------------------------------------------------------------------------------


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
                ET.SubElement(response, _q("parameter"), {"name": name})
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


def build_control_form(
    specs: Sequence[ParameterSpec], session: str, title: str = "Control"
) -> ET.Element:
    """The control form for ``specs``: every field ``notSame`` and validated, in write order."""
    fields = [FormField(SESSION_VAR, "hidden", values=(session,))]
    fields.extend(_spec_field(spec) for spec in specs)
    return build_form(fields, title=title, pages=_pages(specs))


def _spec_field(spec: ParameterSpec) -> FormField:
    kind = "boolean" if spec.type == "boolean" else "text-single"
    if spec.options:
        kind = "list-single"
    value = format_value(spec.type, spec.value) if spec.value is not None else None
    return FormField(
        var=spec.name,
        type=kind,
        label=spec.label or spec.name,
        description=spec.description or spec.label or spec.name,
        values=(value,) if value is not None else (),
        options=tuple(FormOption(o) for o in spec.options),
        datatype=PARAMETER_TO_DATATYPE[spec.type],
        minimum=_bound(spec, spec.minimum),
        maximum=_bound(spec, spec.maximum),
        not_same=True,
        parameter_group=spec.group,
    )


def _bound(spec: ParameterSpec, bound: float | int | None) -> str | None:
    return None if bound is None else format_value(spec.type, bound)


def _pages(specs: Sequence[ParameterSpec]) -> list[FormPage]:
    """Layout pages in first-appearance order; none if no parameter names a page."""
    if not any(s.page for s in specs):
        return []
    order: dict[str, list[str]] = {}
    for spec in specs:
        order.setdefault(spec.page or "Parameters", []).append(spec.name)
    return [FormPage(label, tuple(names)) for label, names in order.items()]
