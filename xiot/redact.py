"""Keep credentials out of protocol debug logs, and keep logging from ever ending a connection.

With ``-vv`` every stanza slixmpp sends or receives is logged.  SCRAM exchanges carry no
secret, but some do: a server that offers only PLAIN (over TLS) gets the base64 of the
password inside ``<auth>``, in-band registration and a password change (XEP-0077) send
``<password>``, and the admin commands of XEP-0133 send a data form whose ``password``
field (``text-private``) holds it.  None of that may reach a terminal, a CI log or a bug
report.

The filter runs inside slixmpp's reader, where an exception would drop the stream: a
stanza nested thousands of levels deep makes formatting raise ``RecursionError``.  So the
filter is total: whatever goes wrong, the record is logged as a short placeholder and the
filter returns normally; and its work is bounded (long messages are cut before the patterns
run, in a way that cannot leave half a secret behind).
"""

from __future__ import annotations

import logging
import re

#: Longest message logged; a bigger stanza is cut (after redaction of the part kept).
MAX_CHARS = 100_000

# Tags never cross '<' or '>', so each pattern scans a tag once: linear on any input.
_TAG = r"(?:[\w.-]+:)?"
#: Text content of SASL elements (RFC 6120 <auth>/<response>, SASL2 <initial-response>) and
#: of <password>.  The closing tag is not required: a message cut short keeps no half secret.
_SECRET_TEXT = re.compile(
    rf"(<{_TAG}(?:auth|response|initial-response|password)\b[^<>]*(?<!/)>)[^<]+"
)
#: A data-form field and its content; which fields hold secrets is decided on the start tag.
_FIELD = re.compile(r"(<field\b[^<>]*>)(.*?)(?=</field>|$)", re.DOTALL)
_FIELD_VAR = re.compile(r"\bvar=(['\"])([^'\"<>]*)\1")
_PRIVATE = re.compile(r"\btype=(['\"])text-private\1")
_VALUE_TEXT = re.compile(r"(<value\b[^<>]*(?<!/)>)[^<]+")
REDACTED = "[redacted]"


def redact(text: str) -> str:
    """``text`` with secrets replaced by ``[redacted]``, cut to ``MAX_CHARS``."""
    cut = len(text) - MAX_CHARS
    if cut > 0:
        text = text[:MAX_CHARS]
    text = _SECRET_TEXT.sub(rf"\1{REDACTED}", text)
    text = _FIELD.sub(_redact_field, text)
    if cut > 0:
        text += f" [... {cut} more characters not logged]"
    return text


def _redact_field(match: re.Match[str]) -> str:
    """A data-form field with its values redacted if it is ``text-private`` or its ``var``
    names a password (XEP-0077 forms, XEP-0133 add-user / change-user-password)."""
    start, body = match.group(1), match.group(2)
    var = _FIELD_VAR.search(start)
    if _PRIVATE.search(start) or (var and "passw" in var.group(2).lower()):
        body = _VALUE_TEXT.sub(rf"\1{REDACTED}", body)
    return start + body


class RedactingFilter(logging.Filter):
    """A logging filter that rewrites each record's message through ``redact``.

    It never raises and never drops a record: a message that cannot be formatted is logged
    as a placeholder naming why.  The message is formatted once here and stored, so the
    handler does not format (and fail on) it again.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            cleaned = redact(record.getMessage())
        except Exception as exc:  # RecursionError on a deep stanza, a broken __str__, ...
            cleaned = _placeholder(record, exc)
        record.msg, record.args = cleaned, None
        return True


def _placeholder(record: logging.LogRecord, exc: Exception) -> str:
    """``RECV: [not shown: RecursionError while formatting this message]``.

    The text before the first ``%`` of a format string ("RECV: ", "SEND: ") is kept; it never
    holds the data.
    """
    try:
        msg = record.msg
        prefix = msg.partition("%")[0][:40] if isinstance(msg, str) and record.args else ""
        return f"{prefix}[not shown: {type(exc).__name__} while formatting this message]"
    except Exception:
        return "[log message not shown]"
