"""Times as operators type them: ISO 8601, with or without a zone, or relative to now.

Accepted forms (``--from``/``--to``):

* ``now``, or relative to now: ``-30m``, ``-24h``, ``-7d``, ``-2w``;
* ISO 8601 with an offset: ``2026-12-01T08:00Z``, ``2026-12-01T08:00+02:00``;
* ISO 8601 with a time zone name after a space, or in brackets as RFC 9557 writes it:
  ``2026-12-01T08:00 Europe/Berlin``, ``2026-12-01T08:00[Europe/Berlin]`` (the zone's rules
  for that date apply, so summer time is right);
* ISO 8601 without a zone, ``2026-12-01T08:00`` or ``2026-12-01``: the local time of the
  machine xiot runs on, since that is what a person at a terminal means.  (It used to be
  taken as UTC without saying so.)

The result is always timezone-aware and in UTC: the instant is what a device compares, and
``Z`` is the form devices understand best.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta, tzinfo

from xiot.errors import UsageError

_RELATIVE = re.compile(r"^-(\d+(?:\.\d+)?)\s*([smhdw])$")
_UNITS = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days", "w": "weeks"}
#: ``Europe/Berlin``, ``America/Argentina/Buenos_Aires``, ``UTC``, ``Etc/GMT+2``.
_ZONE_NAME = re.compile(r"[A-Za-z][A-Za-z0-9_+\-]*(?:/[A-Za-z0-9_+\-]+)*")
_FORMS = ("Use ISO 8601 (2026-11-24T08:00, 2026-11-24T08:00Z, 2026-11-24T08:00+02:00, "
          "2026-11-24T08:00 Europe/Berlin, 2026-11-24) or a relative time such as -24h, "
          "-30m, -7d")


def parse_when(text: str, option: str, now: datetime | None = None,
               local_zone: tzinfo | None = None) -> datetime:
    """The instant ``text`` names, in UTC; a time without a zone is in ``local_zone``.

    ``local_zone`` defaults to the machine's local time zone (tests pass one).
    """
    value = text.strip()
    now = now or datetime.now(UTC)
    if value.lower() == "now":
        return now.astimezone(UTC)
    match = _RELATIVE.match(value.lower())
    if match:
        amount, unit = float(match.group(1)), _UNITS[match.group(2)]
        return (now - timedelta(**{unit: amount})).astimezone(UTC)
    stamp, zone_name = _split_zone(value)
    try:
        parsed = datetime.fromisoformat(stamp)
    except ValueError:
        raise UsageError(f"malformed {option} '{text}'", _FORMS) from None
    if zone_name is not None:
        parsed = _in_zone(parsed, _zone(zone_name, option), text, option)
    elif parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=local_zone) if local_zone else parsed.astimezone()
    return parsed.astimezone(UTC)


def _split_zone(value: str) -> tuple[str, str | None]:
    """``(stamp, zone name)`` from ``STAMP ZONE`` or ``STAMP[ZONE]``; no zone: ``None``."""
    if value.endswith("]") and "[" in value:
        stamp, _, zone = value[:-1].rpartition("[")
        return stamp.strip(), zone.strip()
    stamp, _, last = value.rpartition(" ")
    if stamp.strip() and _ZONE_NAME.fullmatch(last):
        return stamp.strip(), last
    return value, None


def _zone(name: str, option: str) -> tzinfo:
    from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

    if name.upper() in {"UTC", "Z"}:
        return UTC
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise UsageError(
            f"unknown time zone '{name}' in {option}",
            "Use a zone name such as Europe/Berlin or UTC (the IANA time zone database must "
            "be installed: package tzdata), or an offset such as +02:00",
        ) from None


def _in_zone(parsed: datetime, zone: tzinfo, text: str, option: str) -> datetime:
    """``parsed`` in ``zone``; an offset given too must agree with the zone on that date."""
    if parsed.tzinfo is None:
        return parsed.replace(tzinfo=zone)
    if parsed.utcoffset() != parsed.replace(tzinfo=zone).utcoffset():
        raise UsageError(f"{option} '{text}': the offset does not match the time zone on "
                         "that date", "Give either an offset or a zone name")
    return parsed
