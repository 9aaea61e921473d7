"""XEP-0325 on the wire: ``set`` and the control form built and parsed, answers interpreted.

Pure XML codecs: the client builds ``set`` and reads ``setResponse`` and iq errors (modern and
0.1/0.2 forms), the device parses ``set`` and builds the control form and ``paramError``.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from slixmpp import Iq

from xiot.errors import RemoteError
from xiot.iot.control.stanzas import NS, q
from xiot.iot.elements import error_info, node_to_xml, nodes_from_xml, tokens_from_xml
from xiot.iot.model import (
    PARAMETER_TYPES,
    ControlParameter,
    ControlResult,
    NodeRef,
    ParameterSpec,
    format_value,
    parse_value,
)
from xiot.xmpp.forms import (
    PARAMETER_TO_DATATYPE,
    SESSION_VAR,
    DataForm,
    FormField,
    FormOption,
    FormPage,
    build_form,
    find_form,
    parse_form,
)

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
            element, q(parameter.type), {"name": parameter.name, "value": parameter.lexical}
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
        if child.tag in (q("node"),) or child is form_el:
            continue
        if local not in PARAMETER_TYPES or not child.tag.startswith(f"{{{NS}}}"):
            raise ParameterError(child.get("name", local), f"Unknown parameter type {local}.")
        name = child.get("name", "")
        try:
            value = parse_value(local, child.get("value", ""))
        except ValueError as exc:
            raise ParameterError(name, "Invalid parameter value.") from exc
        parameters.append(ControlParameter(name, local, value))
    tokens = tokens_from_xml(element)
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
    element = ET.Element(q("paramError"), {"var": name})
    element.text = text
    return element


# ---------------------------------------------------------------------------------------------
# Answers: setResponse, iq errors, the form in a getForm result
# ---------------------------------------------------------------------------------------------


def control_success(iq: Iq) -> ControlResult:
    """Interpret an iq result: empty or listing ``setResponse``, or a legacy response code."""
    response = iq.xml.find(q("setResponse"))
    if response is None:
        return ControlResult(str(iq["from"]), True)
    code = response.get("responseCode") or response.get("result")
    applied_nodes = nodes_from_xml(response, NS)
    applied = tuple(p.get("name", "") for p in response.findall(q("parameter")))
    if code not in (None, "OK"):
        legacy = legacy_failure(response)
        return ControlResult(str(iq["from"]), False, legacy.node, legacy.parameters,
                             "; ".join(legacy.texts) or code, code)
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
        for param in error_el.findall(q("paramError")):
            failed.append(param.get("var") or param.get("n") or "")
            texts.append(f"{failed[-1]}: {(param.text or '').strip()}")
    condition = info.condition
    node = None
    response = iq.xml.find(q("setResponse"))
    if response is not None:
        legacy = legacy_failure(response)
        failed.extend(legacy.parameters)
        texts.extend(legacy.texts)
        node = legacy.node
        # the legacy code wins over the condition slixmpp invents when <error> is absent
        condition = response.get("responseCode") or response.get("result") or condition
    message = "; ".join(t for t in (info.text, *texts) if t) or info.describe()
    return ControlResult(str(iq["from"]), False, node, tuple(failed), message, condition)


@dataclass(frozen=True, slots=True)
class LegacyFailure:
    """What a 0.1/0.2 failed ``setResponse`` says: failing parameters, node, texts."""

    parameters: tuple[str, ...]
    nodes: tuple[str, ...]
    texts: tuple[str, ...]

    @property
    def node(self) -> str | None:
        return self.nodes[0] if len(self.nodes) == 1 else None


def legacy_failure(response: ET.Element) -> LegacyFailure:
    """Read a failed 0.1/0.2 ``setResponse`` (``responseCode``/``result`` not ``OK``).

    Its ``parameter`` and ``node`` children name what failed; ``<error var>`` carries the
    text.  slixmpp's plugin, which many such devices are built on, sets ``var`` to "Output"
    whatever failed and names the real parameter in ``parameter`` (or the unknown node in
    ``node``), so ``var`` is believed only when the response names neither.
    """
    parameters = tuple(p.get("name", "") for p in response.findall(q("parameter")))
    nodes = tuple(n.node_id for n in nodes_from_xml(response, NS))
    errors = response.findall(q("error"))
    if not parameters and not nodes:
        named = tuple(e.get("var", "") for e in errors)
        texts = tuple(f"{e.get('var', '')}: {(e.text or '').strip()}" for e in errors)
        return LegacyFailure(tuple(n for n in named if n), (), texts)
    what = ", ".join(parameters)
    where = f"node {', '.join(nodes)}" if nodes else ""
    label = f"{what} on {where}" if what and where else what or where
    said = "; ".join(t for t in ((e.text or "").strip() for e in errors) if t)
    return LegacyFailure(parameters, nodes, (f"{label}: {said}" if said else label,))


def form_from_result(result: Iq, jid: str = "") -> DataForm:
    """The form in a ``getForm`` result: bare (0.3+) or wrapped in ``getFormResponse`` (0.1/0.2)."""
    form_el = find_form(result.xml)
    wrapper = result.xml.find(q("getFormResponse"))
    if form_el is None and wrapper is not None:
        form_el = find_form(wrapper)
    if form_el is None:
        raise RemoteError(f"{jid} answered getForm without a data form")
    return parse_form(form_el)


# ---------------------------------------------------------------------------------------------
# The control form a device offers
# ---------------------------------------------------------------------------------------------


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
