"""XML Schema value codecs shared by data forms (XEP-0004) and the IoT field and parameter types.

XEP-0323 §2.9 harmonises sensor-data field types with XEP-0325 control parameter types, and
both travel in data forms, so the codecs sit here below both.  Codecs raise ``ValueError`` on
malformed text: the caller decides whether that is bad user input (``UsageError``) or a
misbehaving peer (an error inside a ``Reading``).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import date, datetime, time
from decimal import Decimal, InvalidOperation
from typing import Any

#: Older XEP-0323 drafts name ``duration`` ``timeSpan``.
FIELD_TYPE_ALIASES: Mapping[str, str] = {"timeSpan": "duration"}

_INT_RANGE = (-(2**31), 2**31 - 1)
_LONG_RANGE = (-(2**63), 2**63 - 1)
_DURATION_RE = re.compile(
    r"^-?P(?=\d|T\d)(\d+Y)?(\d+M)?(\d+D)?(T(?=\d)(\d+H)?(\d+M)?(\d+(\.\d+)?S)?)?$"
)
_COLOR_RE = re.compile(r"^(?:[0-9A-Fa-f]{6}|[0-9A-Fa-f]{8})$")
_ZONE_RE = re.compile(r"(Z|[+-]\d{2}:\d{2})$")



def parse_bool(text: str) -> bool:
    """Parse an ``xs:boolean``; peers write ``1``/``0`` as often as ``true``/``false``."""
    lowered = text.strip().lower()
    if lowered in ("true", "1"):
        return True
    if lowered in ("false", "0"):
        return False
    raise ValueError(f"not a boolean: {text!r}")


def format_bool(value: bool) -> str:
    """Emit the canonical ``xs:boolean`` spelling."""
    return "true" if value else "false"


def parse_datetime(text: str) -> datetime:
    """Parse an ``xs:dateTime``; a value without a zone stays naive ("undefined" zone)."""
    try:
        return datetime.fromisoformat(text.strip())
    except ValueError as exc:
        raise ValueError(f"not a dateTime: {text!r}") from exc


def format_datetime(value: datetime) -> str:
    """Format an ``xs:dateTime``; naive values are sent without a zone, as the XEP does."""
    text = value.isoformat()
    return text[:-6] + "Z" if text.endswith("+00:00") else text


def _parse_date(text: str) -> date:
    """Parse an ``xs:date``; a trailing zone is accepted and dropped (dates carry none here)."""
    stripped = _ZONE_RE.sub("", text.strip())
    try:
        return date.fromisoformat(stripped)
    except ValueError as exc:
        raise ValueError(f"not a date: {text!r}") from exc


def _parse_time(text: str) -> time:
    try:
        return time.fromisoformat(text.strip())
    except ValueError as exc:
        raise ValueError(f"not a time: {text!r}") from exc


def _parse_duration(text: str) -> str:
    """Validate an ``xs:duration``; it stays a string because months and years have no
    fixed length in seconds."""
    stripped = text.strip()
    if not _DURATION_RE.match(stripped):
        raise ValueError(f"not a duration: {text!r}")
    return stripped


def _parse_integer(text: str, bounds: tuple[int, int], kind: str) -> int:
    try:
        number = int(text.strip())
    except ValueError as exc:
        raise ValueError(f"not an {kind}: {text!r}") from exc
    if not bounds[0] <= number <= bounds[1]:
        raise ValueError(f"{kind} out of range: {text!r}")
    return number


def _parse_double(text: str) -> float:
    stripped = text.strip()
    special = {"INF": float("inf"), "-INF": float("-inf"), "NaN": float("nan")}
    if stripped in special:
        return special[stripped]
    try:
        return float(Decimal(stripped))
    except (InvalidOperation, ValueError) as exc:
        raise ValueError(f"not a number: {text!r}") from exc


def _parse_color(text: str) -> str:
    stripped = text.strip()
    if not _COLOR_RE.match(stripped):
        raise ValueError(f"not a colour (RRGGBB or RRGGBBAA): {text!r}")
    return stripped.upper()


def decimals_of(text: str) -> int | None:
    """Number of decimals carried by the lexical form (``10.00`` -> 2); XEP-0323 has no
    ``nrDecimals`` attribute, so precision lives only in the string."""
    stripped = text.strip()
    if "e" in stripped.lower() or stripped in ("INF", "-INF", "NaN"):
        return None
    if "." not in stripped:
        return 0
    return len(stripped.split(".", 1)[1])


def format_number(value: float | int | Decimal, decimals: int | None = None) -> str:
    """Format a numeric value with an explicit decimal count so precision survives the wire."""
    if isinstance(value, float) and value != value:
        return "NaN"
    if isinstance(value, float) and value in (float("inf"), float("-inf")):
        return "INF" if value > 0 else "-INF"
    if decimals is not None:
        return f"{Decimal(str(value)):.{decimals}f}"
    if isinstance(value, int):
        return str(value)
    return repr(float(value)) if isinstance(value, float) else str(value)


_PARSERS: dict[str, Any] = {
    "boolean": parse_bool,
    "date": _parse_date,
    "dateTime": parse_datetime,
    "time": _parse_time,
    "duration": _parse_duration,
    "int": lambda text: _parse_integer(text, _INT_RANGE, "int"),
    "long": lambda text: _parse_integer(text, _LONG_RANGE, "long"),
    "numeric": _parse_double,
    "double": _parse_double,
    "string": str,
    "enum": str,
    "color": _parse_color,
}


def parse_value(type_: str, text: str) -> Any:
    """Turn the lexical form of a field or parameter value into a Python value.

    Raises ``ValueError`` for malformed text and for unknown type names.
    """
    parser = _PARSERS.get(FIELD_TYPE_ALIASES.get(type_, type_))
    if parser is None:
        raise ValueError(f"unknown value type {type_!r}")
    return parser(text)


def format_value(type_: str, value: Any, decimals: int | None = None) -> str:
    """Turn a Python value into the lexical form the XEP expects for ``type_``."""
    if isinstance(value, str) and type_ not in ("string", "enum"):
        parse_value(type_, value)  # validate, then send the caller's own spelling
        return value.strip()
    if type_ == "boolean":
        return format_bool(bool(value))
    if type_ == "dateTime" and isinstance(value, datetime):
        return format_datetime(value)
    if type_ in ("date", "time") and isinstance(value, date | time):
        return value.isoformat()
    if type_ in ("numeric", "double"):
        return format_number(value, decimals)
    if type_ in ("int", "long"):
        return format_value(type_, str(int(value)))
    return str(value)


def json_value(value: Any) -> Any:
    """A field or parameter value as JSON data, by the one rule of ``xiot.output.jsonable``."""
    from xiot.output import jsonable

    return jsonable(value)
