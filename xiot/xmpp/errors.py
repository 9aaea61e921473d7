"""Turning slixmpp's IqError/IqTimeout into results and XiotErrors."""

from __future__ import annotations

from typing import Any


def iq_error_text(exc: Any) -> tuple[str, str]:
    """(condition, text) of an IqError's error element."""
    error = exc.iq["error"]
    condition = error["condition"] or "undefined-condition"
    return condition, error["text"] or ""


def describe_iq_error(exc: Any) -> str:
    condition, text = iq_error_text(exc)
    return f"{condition} ({text})" if text else condition
