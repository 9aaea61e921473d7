"""The JSON Schema of the scenario YAML, for editors and CI linters (``xiot replay schema``).

``model.load`` is the authority (it also checks what a schema cannot: well-formed XML,
variables defined before use); this schema describes the same shape so that an editor can
complete and flag fields while a scenario is written.  A unit test keeps the two in step.
"""

from __future__ import annotations

from typing import Any

from xiot.replay.model import ACTOR_FIELDS, SCENARIO_FIELDS, STEP_KINDS

SCHEMA_ID = "urn:xiot:replay:scenario:1"

_SECONDS = {"type": "number", "minimum": 0}
_STRINGS = {"type": "array", "items": {"type": "string"}}
_ACTOR_REF = {"type": "string", "pattern": "^[A-Za-z_][A-Za-z0-9_-]*$"}
_STANZAS = {"type": "string", "description": "one or more XML stanzas (a block literal)"}
_COMMON = {"requires": _STRINGS, "note": {"type": "string"}}


def _step(kind: str, head: dict[str, Any], **options: Any) -> dict[str, Any]:
    properties = {kind: head, **options, **_COMMON}
    required = [kind] + [name for name in ("xml", "for") if name in options
                         and not (kind == "expect-none" and name == "xml")]
    return {"type": "object", "properties": properties, "required": required,
            "additionalProperties": False}


def schema() -> dict[str, Any]:
    """The schema as a JSON-ready dict (draft 2020-12)."""
    steps = [
        _step("connect", _ACTOR_REF),
        _step("send", _ACTOR_REF, xml=_STANZAS),
        _step("expect", _ACTOR_REF, xml=_STANZAS, strict={"type": "boolean"}, timeout=_SECONDS),
        _step("expect-none", _ACTOR_REF, **{"for": _SECONDS, "xml": _STANZAS}),
        _step("disconnect", _ACTOR_REF),
        _step("wait", _SECONDS),
        _step("set", {"type": "object", "additionalProperties": {"type": "string"}}),
    ]
    assert [next(iter(s["properties"])) for s in steps] == list(STEP_KINDS)
    actor = {
        "type": ["object", "null"],
        "properties": {name: ({"type": "integer", "minimum": 1, "maximum": 65535}
                              if name == "port" else {"type": "string"})
                       for name in ACTOR_FIELDS},
        "additionalProperties": False,
        "not": {"anyOf": [{"required": ["profile", "account"]},
                          {"required": ["profile", "jid"]},
                          {"required": ["account", "jid"]}]},
    }
    properties: dict[str, Any] = {
        "name": {"type": "string"},
        "description": {"type": "string"},
        "tags": _STRINGS,
        "requires": {**_STRINGS, "description": "disco#info features the server must offer"},
        "timeout": {**_SECONDS, "description": "default seconds an expect step waits"},
        "lab": {"type": "string", "description": "lab whose accounts 'account' names"},
        "actors": {"type": "object", "minProperties": 1,
                   "propertyNames": _ACTOR_REF, "additionalProperties": actor},
        "steps": {"type": "array", "minItems": 1, "items": {"oneOf": steps}},
    }
    assert list(properties) == list(SCENARIO_FIELDS)
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$id": SCHEMA_ID,
        "title": "xiot replay scenario",
        "type": "object",
        "properties": properties,
        "required": ["name", "actors", "steps"],
        "additionalProperties": False,
    }
