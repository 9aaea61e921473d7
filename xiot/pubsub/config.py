"""Node configuration with types: short option names, values checked before anything is sent.

A value is checked against the server's own configuration form: an unknown field, a word for
a boolean, a number out of the form's range or a choice the form does not offer is a
``UsageError`` (exit 2) naming the field and what it accepts.  Fields of the XEP-0060
``pubsub#node_config`` registry that a server accepts but leaves out of its form (ejabberd
23.01 shows ``pubsub#title`` only once it is set) are allowed, typed by the registry.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from xiot.errors import UsageError
from xiot.xmpp.forms import DataForm, FormField

#: Friendly names (``--access``, ``title: ...`` in an apply file) for registry fields.
ALIASES: Mapping[str, str] = {
    "access": "pubsub#access_model",
    "publish_model": "pubsub#publish_model",
    "persist": "pubsub#persist_items",
    "send_last": "pubsub#send_last_published_item",
    "roster_groups": "pubsub#roster_groups_allowed",
}

_BOOL = "boolean"
_INT = "integer"
_INT_OR_MAX = "integer-or-max"
_TEXT = "text"
_MULTI = "multi"

#: The XEP-0060 registry of ``pubsub#node_config`` fields: kind, or the choices it allows.
REGISTRY: Mapping[str, Any] = {
    "pubsub#access_model": ("authorize", "open", "presence", "roster", "whitelist"),
    "pubsub#body_xslt": _TEXT,
    "pubsub#children_association_policy": ("all", "owners", "whitelist"),
    "pubsub#children_association_whitelist": _MULTI,
    "pubsub#children": _MULTI,
    "pubsub#children_max": _INT,
    "pubsub#collection": _MULTI,
    "pubsub#contact": _MULTI,
    "pubsub#dataform_xslt": _TEXT,
    "pubsub#deliver_notifications": _BOOL,
    "pubsub#deliver_payloads": _BOOL,
    "pubsub#description": _TEXT,
    "pubsub#item_expire": _INT,
    "pubsub#itemreply": ("owner", "publisher", "none"),
    "pubsub#language": _TEXT,
    "pubsub#max_items": _INT_OR_MAX,
    "pubsub#max_payload_size": _INT,
    "pubsub#node_type": ("leaf", "collection"),
    "pubsub#notification_type": ("normal", "headline"),
    "pubsub#notify_config": _BOOL,
    "pubsub#notify_delete": _BOOL,
    "pubsub#notify_retract": _BOOL,
    "pubsub#notify_sub": _BOOL,
    "pubsub#persist_items": _BOOL,
    "pubsub#presence_based_delivery": _BOOL,
    "pubsub#publish_model": ("publishers", "subscribers", "open"),
    "pubsub#purge_offline": _BOOL,
    "pubsub#roster_groups_allowed": _MULTI,
    "pubsub#send_last_published_item": ("never", "on_sub", "on_sub_and_presence"),
    "pubsub#tempsub": _BOOL,
    "pubsub#subscribe": _BOOL,
    "pubsub#title": _TEXT,
    "pubsub#type": _TEXT,
}

#: Fields that only mean something where the service implements XEP-0248 collections.
COLLECTION_FIELDS = frozenset({
    "pubsub#collection", "pubsub#children", "pubsub#children_max",
    "pubsub#children_association_policy", "pubsub#children_association_whitelist"})


def field_name(key: str) -> str:
    """``access`` -> ``pubsub#access_model``, ``max_items`` -> ``pubsub#max_items``; a
    name with a ``#`` (``pubsub#title``, another FORM_TYPE's field) is taken as it is."""
    key = key.strip()
    if "#" in key:
        return key
    key = key.replace("-", "_")
    return ALIASES.get(key, f"pubsub#{key}")


def parse_assignments(pairs: list[str], what: str = "--set") -> dict[str, str]:
    """``KEY=VALUE`` words from the command line as {field: value} (a repeated key is a list)."""
    values: dict[str, Any] = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key.strip():
            raise UsageError(f"{what} {pair!r} is not KEY=VALUE",
                             f"For example {what} pubsub#title=Kitchen")
        name = field_name(key)
        if name in values:
            old = values[name]
            values[name] = [*old, value] if isinstance(old, list) else [old, value]
        else:
            values[name] = value
    return values


@dataclass(frozen=True)
class Checked:
    """Values ready to submit: lexical strings per field, and the typed values for reports."""

    lexical: dict[str, tuple[str, ...]] = field(default_factory=dict)
    typed: dict[str, Any] = field(default_factory=dict)


def check(values: Mapping[str, Any], form: DataForm | None, service: str,
          collections: bool = True) -> Checked:
    """Check ``values`` ({field: value}) against ``form`` (None: the registry only).

    Values may be text from the command line or typed values from a YAML file.
    """
    lexical: dict[str, tuple[str, ...]] = {}
    typed: dict[str, Any] = {}
    for raw_name, value in values.items():
        name = field_name(raw_name)
        found = form.field(name) if form is not None else None
        if found is not None and found.type in ("hidden", "fixed"):
            found = None
        if name in COLLECTION_FIELDS and not collections:
            from xiot.pubsub.core import UnsupportedFeature

            raise UnsupportedFeature(service, "collections", f"set {name}")
        if found is None and name not in REGISTRY:
            known = ", ".join(f.var for f in form.parameters) if form else ""
            raise UsageError(f"unknown configuration field '{name}' for {service}",
                             f"Its form has: {known}" if known else
                             "See 'xiot pubsub config default'")
        kind = _kind(found, name)
        typed[name] = _coerce(name, kind, value, found)
        lexical[name] = _lexical(kind, typed[name])
    return Checked(lexical, typed)


def _kind(found: FormField | None, name: str) -> Any:
    registry = REGISTRY.get(name)
    if found is None:
        return registry
    if found.type == "boolean":
        return _BOOL
    if found.type in ("list-multi", "jid-multi", "text-multi"):
        return _MULTI
    if found.type == "list-single" and found.options:
        return tuple(o.value for o in found.options)
    if found.datatype in ("xs:integer", "xs:int", "xs:long", "xs:short"):
        return _INT
    if found.datatype and "integer-or-max" in found.datatype:
        return _INT_OR_MAX
    return registry if registry in (_INT, _INT_OR_MAX, _BOOL) else _TEXT


def _coerce(name: str, kind: Any, value: Any, found: FormField | None) -> Any:
    if kind == _MULTI:
        items = value if isinstance(value, list | tuple) else \
            [v for v in str(value).split(",") if v.strip()] if value != "" else []
        return tuple(str(v).strip() for v in items)
    if isinstance(value, list | tuple):
        raise UsageError(f"{name} takes one value, not a list")
    if kind == _BOOL:
        return _boolean(name, value)
    if kind in (_INT, _INT_OR_MAX):
        return _integer(name, value, kind == _INT_OR_MAX, found)
    if isinstance(kind, tuple):
        text = str(value).strip()
        if text not in kind:
            raise UsageError(f"{name} cannot be '{text}'", f"It takes one of: {', '.join(kind)}")
        return text
    return str(value)


def _boolean(name: str, value: Any) -> bool:
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    if text in ("true", "1", "yes", "on"):
        return True
    if text in ("false", "0", "no", "off"):
        return False
    raise UsageError(f"{name} takes true or false, not '{value}'")


def _integer(name: str, value: Any, or_max: bool, found: FormField | None) -> int | str:
    if or_max and str(value).strip().lower() == "max":
        return "max"
    if isinstance(value, bool):
        raise UsageError(f"{name} takes a whole number{' or max' * or_max}, not {value}")
    try:
        number = int(str(value).strip())
    except ValueError:
        raise UsageError(f"{name} takes a whole number{' or max' * or_max}, "
                         f"not '{value}'") from None
    low = _bound(found.minimum if found else None)
    high = _bound(found.maximum if found else None)
    if (low is not None and number < low) or (high is not None and number > high):
        raise UsageError(f"{name} {number} is out of the server's range",
                         f"It allows {found.minimum if found else ''}.."
                         f"{found.maximum if found else ''}")
    return number


def _bound(text: str | None) -> int | None:
    try:
        return int(text) if text is not None else None
    except ValueError:
        return None


def _lexical(kind: Any, value: Any) -> tuple[str, ...]:
    if kind == _MULTI:
        return tuple(value)
    if isinstance(value, bool):
        return ("true" if value else "false",)
    return (str(value),)


def same(field_: FormField | None, wanted: Any) -> bool:
    """Whether a form field already holds ``wanted`` (a typed value from ``check``)."""
    if field_ is None:
        return False
    current = field_.values
    if isinstance(wanted, tuple):
        return tuple(current) == wanted
    if isinstance(wanted, bool):
        return bool(current) and current[0].strip().lower() in (
            ("true", "1") if wanted else ("false", "0"))
    return bool(current) and current[0] == str(wanted)


def current_value(field_: FormField) -> Any:
    """A field's value for people and JSON: a list for multi fields, booleans as booleans."""
    if field_.type in ("list-multi", "jid-multi", "text-multi"):
        return list(field_.values)
    if not field_.values or field_.values == ("",):
        return None
    if field_.type == "boolean":
        return field_.values[0].strip().lower() in ("1", "true")
    return field_.values[0]
