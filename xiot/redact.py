"""Keep credentials out of protocol debug logs.

With ``-vv`` every stanza slixmpp sends is logged.  SCRAM exchanges carry no secret, but a
server that offers only PLAIN (over TLS) gets the base64 of the password inside ``<auth>``;
that must not reach a terminal, a CI log or a bug report.
"""

from __future__ import annotations

import logging
import re

_SASL_PAYLOAD = re.compile(
    r"(<(?:auth|response)\b[^>]*xmlns=['\"]urn:ietf:params:xml:ns:xmpp-sasl['\"][^>]*>)"
    r"[^<]*(</(?:auth|response)>)"
)
_PASSWORD_ELEMENT = re.compile(r"(<password\b[^>]*>)[^<]*(</password>)")


def redact(text: str) -> str:
    """``text`` with SASL payloads and XEP-0077 ``<password>`` values replaced."""
    text = _SASL_PAYLOAD.sub(r"\1[redacted]\2", text)
    return _PASSWORD_ELEMENT.sub(r"\1[redacted]\2", text)


class RedactingFilter(logging.Filter):
    """A logging filter that rewrites each record's message through ``redact``."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        cleaned = redact(message)
        if cleaned != message:
            record.msg, record.args = cleaned, None
        return True
