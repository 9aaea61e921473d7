"""Typed XEP-0004 data forms, with the extensions IoT control forms rely on.

XEP-0325 control forms (and XEP-0326 node-parameter forms) are ordinary ``jabber:x:data``
forms decorated with XEP-0122 validation (``xdv:validate``/``xdv:range``), XEP-0336 dynamic
forms (``xdd:notSame`` and the hidden ``xdd session`` field), XEP-0141 layout pages and a
XEP-0325 ``parameterGroup``.  slixmpp's ``xep_0004`` plugin knows none of the extensions and
returns untyped strings, so this module works on plain ElementTree elements: it parses a form
into frozen dataclasses whose values are typed by the validation datatype, and builds forms and
partial submit forms.  Bad user input (unknown field, wrong type, out of range) raises
``UsageError``; a peer's malformed value is kept as its raw string instead of failing.
"""

from __future__ import annotations

import math
import xml.etree.ElementTree as ET
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from xiot.errors import UsageError
from xiot.xmpp.values import format_value, parse_bool, parse_value

NS_DATA = "jabber:x:data"
NS_VALIDATE = "http://jabber.org/protocol/xdata-validate"
NS_DYNAMIC = "urn:xmpp:xdata:dynamic"
NS_LAYOUT = "http://jabber.org/protocol/xdata-layout"
NS_COLOR = "urn:xmpp:xdata:color"
NS_CONTROL = "urn:xmpp:iot:control"

#: The hidden field XEP-0336 uses to carry the dynamic-form session id.
SESSION_VAR = "xdd session"

#: XEP-0122 datatypes mapped to XEP-0325 parameter types.
DATATYPE_TO_PARAMETER: Mapping[str, str] = {
    "xs:boolean": "boolean",
    "xs:int": "int",
    "xs:integer": "long",
    "xs:short": "int",
    "xs:byte": "int",
    "xs:long": "long",
    "xs:double": "double",
    "xs:decimal": "double",
    "xs:float": "double",
    "xs:date": "date",
    "xs:dateTime": "dateTime",
    "xs:time": "time",
    "xs:duration": "duration",
    "xs:string": "string",
    "xdc:Color": "color",
    "xdc:ColorAlpha": "color",
}
#: The datatype a form advertises for each parameter type.
PARAMETER_TO_DATATYPE: Mapping[str, str] = {
    "boolean": "xs:boolean",
    "int": "xs:int",
    "long": "xs:long",
    "double": "xs:double",
    "date": "xs:date",
    "dateTime": "xs:dateTime",
    "time": "xs:time",
    "duration": "xs:duration",
    "string": "xs:string",
    "color": "xdc:ColorAlpha",
}
_MULTI_TYPES = frozenset({"list-multi", "jid-multi", "text-multi"})


def _q(ns: str, tag: str) -> str:
    return f"{{{ns}}}{tag}"


@dataclass(frozen=True, slots=True)
class FormOption:
    """One ``option`` of a list field."""

    value: str
    label: str | None = None


@dataclass(frozen=True, slots=True)
class FormField:
    """A data-form field with its value typed according to its validation datatype.

    ``values`` keeps the raw strings; ``value`` is the typed value (a tuple for multi-value
    fields, the raw string if the peer's text does not match the declared datatype).
    """

    var: str
    type: str = "text-single"
    label: str | None = None
    description: str | None = None
    required: bool = False
    values: tuple[str, ...] = ()
    value: Any = None
    options: tuple[FormOption, ...] = ()
    datatype: str | None = None
    minimum: str | None = None
    maximum: str | None = None
    not_same: bool = False
    parameter_group: str | None = None

    @property
    def parameter_type(self) -> str | None:
        """The XEP-0325 parameter type this field stands for, if it can be told."""
        if self.datatype in DATATYPE_TO_PARAMETER:
            return DATATYPE_TO_PARAMETER[self.datatype]
        if self.type == "boolean":
            return "boolean"
        if self.type in ("text-single", "text-private", "list-single"):
            return "string"
        return None

    def coerce(self, value: Any) -> Any:
        """Check a value the user wants to submit and return it typed.

        Raises ``UsageError`` when it does not fit the datatype, the range or the options.
        """
        kind = self.parameter_type or "string"
        typed = value
        if isinstance(value, str) and kind != "string":
            try:
                typed = parse_value(kind, value)
            except ValueError as exc:
                raise UsageError(f"bad value for form field {self.var!r}: {exc}") from exc
        self._check_range(kind, typed)
        if self.type == "list-single" and self.options:
            allowed = {o.value for o in self.options}
            if str(typed) not in allowed:
                raise UsageError(f"{self.var!r} must be one of: {', '.join(sorted(allowed))}", None)
        return typed

    def _check_range(self, kind: str, typed: Any) -> None:
        if kind not in ("int", "long", "double") or isinstance(typed, bool):
            return
        if isinstance(typed, float) and not math.isfinite(typed):
            # NaN compares false with every bound, so it would slip through the range check.
            raise UsageError(f"value {typed} for {self.var!r} is not a finite number",
                             "Give a number")
        for bound, too in ((self.minimum, "small"), (self.maximum, "large")):
            if bound is None:
                continue
            limit = parse_value("double", bound)
            if (too == "small" and typed < limit) or (too == "large" and typed > limit):
                raise UsageError(
                    f"value {typed} for {self.var!r} is too {too}",
                    f"allowed range: {self.minimum}..{self.maximum}",
                )

    def lexical(self, typed: Any) -> str:
        """Format a typed value for this field."""
        if self.type == "boolean" and isinstance(typed, bool):
            return "true" if typed else "false"
        return format_value(self.parameter_type or "string", typed)


@dataclass(frozen=True, slots=True)
class FormPage:
    """A XEP-0141 layout page: its label and the field vars it shows, in order."""

    label: str | None
    fields: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class DataForm:
    """A parsed data form."""

    type: str
    title: str | None = None
    instructions: str | None = None
    fields: tuple[FormField, ...] = ()
    pages: tuple[FormPage, ...] = ()

    def field(self, var: str) -> FormField | None:
        return next((f for f in self.fields if f.var == var), None)

    @property
    def session(self) -> str | None:
        """The XEP-0336 dynamic-form session id, if the form has one."""
        found = self.field(SESSION_VAR)
        return found.values[0] if found and found.values else None

    @property
    def parameters(self) -> tuple[FormField, ...]:
        """Fields that are parameters: every field except hidden and fixed ones."""
        return tuple(f for f in self.fields if f.type not in ("hidden", "fixed"))

    def values(self) -> dict[str, Any]:
        """Typed values of the parameter fields, in form order."""
        return {f.var: f.value for f in self.parameters}


# ---------------------------------------------------------------------------------------------
# Parsing
# ---------------------------------------------------------------------------------------------


def find_form(parent: ET.Element) -> ET.Element | None:
    """The first ``jabber:x:data`` child of ``parent``."""
    return parent.find(_q(NS_DATA, "x"))


def parse_form(element: ET.Element) -> DataForm:
    """Parse an ``x`` element into a ``DataForm``."""
    if element.tag != _q(NS_DATA, "x"):
        raise ValueError(f"not a data form: {element.tag}")
    return DataForm(
        type=element.get("type", "form"),
        title=_text(element.find(_q(NS_DATA, "title"))),
        instructions=_text(element.find(_q(NS_DATA, "instructions"))),
        fields=tuple(_parse_field(f) for f in element.findall(_q(NS_DATA, "field"))),
        pages=tuple(_parse_page(p) for p in element.findall(_q(NS_LAYOUT, "page"))),
    )


def _text(element: ET.Element | None) -> str | None:
    return element.text if element is not None and element.text is not None else None


def _parse_field(element: ET.Element) -> FormField:
    validate = element.find(_q(NS_VALIDATE, "validate"))
    datatype = validate.get("datatype", "xs:string") if validate is not None else None
    range_ = validate.find(_q(NS_VALIDATE, "range")) if validate is not None else None
    group = element.find(_q(NS_CONTROL, "parameterGroup"))
    raw_values = tuple(v.text or "" for v in element.findall(_q(NS_DATA, "value")))
    field = FormField(
        var=element.get("var", ""),
        type=element.get("type", "text-single"),
        label=element.get("label"),
        description=_text(element.find(_q(NS_DATA, "desc"))),
        required=element.find(_q(NS_DATA, "required")) is not None,
        values=raw_values,
        options=tuple(
            FormOption(_text(o.find(_q(NS_DATA, "value"))) or "", o.get("label"))
            for o in element.findall(_q(NS_DATA, "option"))
        ),
        datatype=datatype,
        minimum=range_.get("min") if range_ is not None else None,
        maximum=range_.get("max") if range_ is not None else None,
        not_same=element.find(_q(NS_DYNAMIC, "notSame")) is not None,
        parameter_group=(group.get("name") or group.get("n")) if group is not None else None,
    )
    return _with_typed_value(field)


def _with_typed_value(field: FormField) -> FormField:
    """Attach the typed value; a value that does not parse stays a raw string."""
    if field.type in _MULTI_TYPES:
        typed: Any = field.values
    elif not field.values:
        typed = None
    else:
        typed = _typed(field, field.values[0])
    return FormField(**{**_as_dict(field), "value": typed})


def _typed(field: FormField, text: str) -> Any:
    kind = field.parameter_type or "string"
    try:
        if field.type == "boolean" and kind == "boolean":
            return parse_bool(text)
        return parse_value(kind, text)
    except ValueError:
        return text


def _as_dict(field: FormField) -> dict[str, Any]:
    return {name: getattr(field, name) for name in FormField.__slots__}


def _parse_page(element: ET.Element) -> FormPage:
    refs = [r.get("var", "") for r in element.iter(_q(NS_LAYOUT, "fieldref"))]
    return FormPage(label=element.get("label"), fields=tuple(refs))


# ---------------------------------------------------------------------------------------------
# Building
# ---------------------------------------------------------------------------------------------


def build_form(
    fields: Sequence[FormField],
    *,
    title: str | None = None,
    instructions: str | None = None,
    pages: Iterable[FormPage] = (),
    form_type: str = "form",
) -> ET.Element:
    """Build an ``x`` element of ``form_type`` with every extension the fields carry."""
    root = ET.Element(_q(NS_DATA, "x"), {"type": form_type})
    if title is not None:
        ET.SubElement(root, _q(NS_DATA, "title")).text = title
    if instructions is not None:
        ET.SubElement(root, _q(NS_DATA, "instructions")).text = instructions
    for page in pages:
        page_el = ET.SubElement(root, _q(NS_LAYOUT, "page"))
        if page.label is not None:
            page_el.set("label", page.label)
        for var in page.fields:
            ET.SubElement(page_el, _q(NS_LAYOUT, "fieldref"), {"var": var})
    for field in fields:
        root.append(_build_field(field, full=form_type == "form"))
    return root


def _build_field(field: FormField, full: bool) -> ET.Element:
    element = ET.Element(_q(NS_DATA, "field"), {"var": field.var})
    if full or field.type == "hidden":
        element.set("type", field.type)
    if full and field.label is not None:
        element.set("label", field.label)
    if full and field.description is not None:
        ET.SubElement(element, _q(NS_DATA, "desc")).text = field.description
    if full and field.required:
        ET.SubElement(element, _q(NS_DATA, "required"))
    for value in field.values:
        ET.SubElement(element, _q(NS_DATA, "value")).text = value
    if not full:
        return element
    for option in field.options:
        option_el = ET.SubElement(element, _q(NS_DATA, "option"))
        if option.label is not None:
            option_el.set("label", option.label)
        ET.SubElement(option_el, _q(NS_DATA, "value")).text = option.value
    if field.not_same:
        ET.SubElement(element, _q(NS_DYNAMIC, "notSame"))
    if field.datatype is not None:
        _build_validate(element, field)
    if field.parameter_group is not None:
        ET.SubElement(element, _q(NS_CONTROL, "parameterGroup"), {"name": field.parameter_group})
    return element


def _build_validate(element: ET.Element, field: FormField) -> None:
    validate = ET.SubElement(
        element, _q(NS_VALIDATE, "validate"), {"datatype": field.datatype or "xs:string"}
    )
    if field.minimum is None and field.maximum is None:
        ET.SubElement(validate, _q(NS_VALIDATE, "basic"))
        return
    bounds = {"min": field.minimum, "max": field.maximum}
    ET.SubElement(
        validate, _q(NS_VALIDATE, "range"), {k: v for k, v in bounds.items() if v is not None}
    )


def build_submit(values: Mapping[str, Any], form: DataForm | None = None) -> ET.Element:
    """Build a submit form holding only ``values`` (the edited fields), plus the session field.

    With ``form`` the values are checked against its fields (unknown names, types, ranges and
    options raise ``UsageError``) and formatted by their datatypes; without it they are sent
    as strings (booleans as ``true``/``false``).
    """
    submitted: list[FormField] = []
    if form is not None and form.session is not None:
        submitted.append(FormField(SESSION_VAR, "hidden", values=(form.session,)))
    for var, value in values.items():
        submitted.append(FormField(var, values=_submit_values(var, value, form)))
    return build_form(submitted, form_type="submit")


def _submit_values(var: str, value: Any, form: DataForm | None) -> tuple[str, ...]:
    if form is None:
        if isinstance(value, bool):
            return ("true" if value else "false",)
        if isinstance(value, list | tuple):
            return tuple(str(v) for v in value)
        return (str(value),)
    field = form.field(var)
    if field is None or field.type in ("hidden", "fixed"):
        known = ", ".join(f.var for f in form.parameters)
        raise UsageError(f"the form has no field {var!r}", f"fields: {known}")
    if field.type in _MULTI_TYPES:
        items = value if isinstance(value, list | tuple) else [value]
        return tuple(str(v) for v in items)
    return (field.lexical(field.coerce(value)),)


def submitted_values(form: DataForm) -> dict[str, str]:
    """The raw single values of a submitted form, without the session field (device side)."""
    return {f.var: (f.values[0] if f.values else "") for f in form.fields if f.var != SESSION_VAR}
