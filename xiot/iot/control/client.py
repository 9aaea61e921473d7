"""The client side of XEP-0325: set parameters and fetch the control form over a ``Session``.

Every operation takes the operator's ``Session`` and waits through ``session.guard``, so a
stream that drops while a device is being asked raises ``ConnectionLost`` (exit 4) instead of
waiting out the timeout.  Refusals of a ``set`` are data in the ``ControlResult``; a refused or
missing control form raises, because nothing can be done without it.
"""

from __future__ import annotations

import math
import time as _time
import xml.etree.ElementTree as ET
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import replace
from typing import TYPE_CHECKING, Any

from slixmpp import JID
from slixmpp.exceptions import IqError, IqTimeout

from xiot.errors import RemoteError, Timeout, UsageError
from xiot.iot.control.stanzas import NS
from xiot.iot.control.wire import build_set, control_error, control_success, form_from_result
from xiot.iot.elements import error_info, node_to_xml
from xiot.iot.model import ControlParameter, ControlResult, NodeRef
from xiot.xmpp.forms import SESSION_VAR, DataForm, build_submit

if TYPE_CHECKING:
    from xiot.xmpp.session import Session

_XML_LANG = "{http://www.w3.org/XML/1998/namespace}lang"


def _node_list(node: NodeRef | str | None, nodes: Iterable[NodeRef | str]) -> tuple[NodeRef, ...]:
    listed = [NodeRef.coerce(n) for n in nodes]
    if node is not None:
        listed.insert(0, NodeRef.coerce(node))
    return check_node_ids(listed)


def check_node_ids(nodes: Iterable[NodeRef | str]) -> tuple[NodeRef, ...]:
    """The nodes as references; ``UsageError`` for an empty id, which no device can have.

    An empty ``nodeId`` would reach the device as a request for a node called '', and a
    concentrator answers that with an error about a node the user never meant.
    """
    refs = tuple(NodeRef.coerce(n) for n in nodes)
    if any(not ref.node_id.strip() for ref in refs):
        raise UsageError("empty node id", "Give the node's id, for example --node Relay1")
    return refs


def check_finite(params: Iterable[ControlParameter]) -> None:
    """``UsageError`` for NaN or infinity: xs:double allows them, no sane setpoint is one.

    A device's range check compares NaN false against both bounds, so it may well accept it.
    """
    for param in params:
        value = param.value
        if isinstance(value, float) and not math.isfinite(value):
            raise UsageError(f"{param.name}: {param.lexical} is not a finite number",
                             "Give a number, for example Setpoint:double=21.5")


async def set_parameters(
    owner: Session,
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
    check_finite(params)
    targets = _node_list(node, nodes)
    result = await _send_set(
        owner,
        JID(jid),
        targets,
        timeout,
        use_message,
        lang,
        lambda el: build_set(el, params, targets, tokens=tokens),
    )
    if result.ok and result.acknowledged and not result.applied_parameters:
        # An empty setResponse accepts the request as a whole: all of it was applied.
        result = replace(result, applied_parameters=tuple(p.name for p in params))
    return result


async def submit_form(
    owner: Session,
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
        form = await get_form(owner, jid, nodes=targets, timeout=timeout, lang=lang)
    submit = build_submit(values, form)
    return await _send_set(
        owner,
        JID(jid),
        targets,
        timeout,
        False,
        lang,
        lambda el: build_set(el, (), targets, form=submit),
    )


async def _send_set(
    owner: Session,
    target: JID,
    targets: tuple[NodeRef, ...],
    timeout: float,
    use_message: bool,
    lang: str | None,
    fill: Callable[[ET.Element], object],
) -> ControlResult:
    owner.check_alive()
    xmpp = owner.client
    node = targets[0].node_id if len(targets) == 1 else None
    started = _time.monotonic()
    stanza = xmpp.make_message(mto=target) if use_message else xmpp.make_iq_set(ito=target)
    payload = stanza["iot_set"]
    if lang:
        payload.xml.set(_XML_LANG, lang)
    fill(payload.xml)
    if use_message:
        stanza.send()
        return ControlResult(str(target), True, node, acknowledged=False)
    try:
        result = await owner.guard(stanza.send(timeout=timeout))
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
        node=result.node or node,  # a legacy refusal names the node that failed
        failed_parameters=result.failed_parameters,
        error=result.error,
        condition=result.condition,
        acknowledged=result.acknowledged,
        applied_nodes=result.applied_nodes,
        applied_parameters=result.applied_parameters,
        elapsed_ms=elapsed,
    )


async def get_form(
    owner: Session,
    jid: JID | str,
    node: NodeRef | str | None = None,
    *,
    nodes: Iterable[NodeRef | str] = (),
    timeout: float = 10.0,
    lang: str | None = None,
) -> DataForm:
    """Fetch the control form.  Raises ``RemoteError`` on refusal, ``Timeout`` on silence."""
    iq = owner.client.make_iq_get(ito=JID(jid))
    element = iq["iot_getForm"].xml
    if lang:
        element.set(_XML_LANG, lang)
    for target in _node_list(node, nodes):
        node_to_xml(element, target, NS)
    try:
        result = await owner.guard(iq.send(timeout=timeout))
    except IqError as exc:
        info = error_info(exc.iq)
        raise RemoteError(
            f"{jid} refused the control form: {info.describe()}", condition=info.condition
        ) from exc
    except IqTimeout as exc:
        raise Timeout(f"{jid} sent no control form within {timeout:g} s") from exc
    return form_from_result(result, str(jid))


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


