"""JID parsing and validation (RFC 7622), without importing slixmpp.

Validation here is deliberately stricter about what users type than about what servers send:
it exists to turn a typo into a clear usage error before any connection is made.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass

from xiot.errors import UsageError

FORBIDDEN_LOCAL = set('"&\'/:<>@')
MAX_PART_BYTES = 1023


@dataclass(frozen=True)
class Jid:
    """A parsed JID: ``local@domain/resource`` with optional local part and resource."""

    local: str | None
    domain: str
    resource: str | None = None

    @property
    def bare(self) -> str:
        return f"{self.local}@{self.domain}" if self.local else self.domain

    @property
    def is_full(self) -> bool:
        return self.resource is not None

    def __str__(self) -> str:
        return f"{self.bare}/{self.resource}" if self.resource else self.bare


def parse_jid(text: str) -> Jid:
    """Parse and validate ``text``; raise UsageError naming what is wrong."""
    raw = text.strip()
    if not raw:
        raise _bad(text, "it is empty")
    bare, slash, resource = raw.partition("/")
    if slash and not resource:
        raise _bad(text, "the resource after '/' is empty")
    local, at, domain = bare.rpartition("@")
    if not at:
        local, domain = "", bare
    elif not local:
        raise _bad(text, "the local part before '@' is empty")
    _check_local(text, local)
    local = local.lower()  # RFC 7622: the local part is case-mapped, the resource is not
    domain = _check_domain(text, domain)
    if resource:
        _check_part(text, resource, "resource")
    return Jid(local or None, domain, resource or None)


def _check_local(text: str, local: str) -> None:
    if not local:
        return
    bad = sorted(set(local) & FORBIDDEN_LOCAL)
    if bad:
        raise _bad(text, f"the local part contains {''.join(bad)!r}")
    if any(c.isspace() for c in local):
        raise _bad(text, "the local part contains whitespace")
    _check_part(text, local, "local part")


def _check_part(text: str, part: str, what: str) -> None:
    if len(part.encode("utf-8")) > MAX_PART_BYTES:
        raise _bad(text, f"the {what} is longer than {MAX_PART_BYTES} bytes")
    if any(ord(c) < 32 or ord(c) == 127 for c in part):
        raise _bad(text, f"the {what} contains control characters")


def _check_domain(text: str, domain: str) -> str:
    if not domain:
        raise _bad(text, "the domain is empty")
    if domain.startswith("[") and domain.endswith("]"):
        try:
            ipaddress.IPv6Address(domain[1:-1])
        except ValueError:
            raise _bad(text, "the IPv6 literal is invalid") from None
        return domain
    domain = domain.rstrip(".").lower()
    if len(domain.encode("utf-8")) > MAX_PART_BYTES:
        raise _bad(text, "the domain is too long")
    for label in domain.split("."):
        if not label:
            raise _bad(text, "the domain has an empty label")
        if len(label) > 63:
            raise _bad(text, f"the domain label '{label[:20]}...' is longer than 63 characters")
        if label.startswith("-") or label.endswith("-"):
            raise _bad(text, f"the domain label '{label}' starts or ends with '-'")
        if not all(c.isalnum() or c in "-_" for c in label):
            raise _bad(text, f"the domain label '{label}' contains characters not allowed")
    return domain


def _bad(text: str, why: str) -> UsageError:
    return UsageError(
        f"malformed JID '{text}': {why}", "Write it as user@domain or user@domain/resource"
    )
