"""Times as operators type them: ISO 8601, or relative to now (``-24h``, ``-7d``, ``now``)."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

from xiot.errors import UsageError

_RELATIVE = re.compile(r"^-(\d+(?:\.\d+)?)\s*([smhdw])$")
_UNITS = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days", "w": "weeks"}


def parse_when(text: str, option: str, now: datetime | None = None) -> datetime:
    """A timezone-aware datetime; naive ISO times are taken as UTC."""
    value = text.strip()
    now = now or datetime.now(UTC)
    if value.lower() == "now":
        return now
    match = _RELATIVE.match(value.lower())
    if match:
        amount, unit = float(match.group(1)), _UNITS[match.group(2)]
        return now - timedelta(**{unit: amount})
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise UsageError(f"malformed {option} '{text}'",
                         "Use ISO 8601 (2026-11-24T08:00:00Z, 2026-11-24) or a relative time "
                         "such as -24h, -30m, -7d") from None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)
