"""JIDs as people type them, prepared once at input (RFC 7622), without importing slixmpp.

Every address a user gives (argument, fleet file, profile, ``xmpp:`` URI) goes through
``parse_jid``, which either returns the one form xiot compares and sends, or raises a
``UsageError`` (exit 2) naming what is wrong, before any connection is made.  Three sets of
rules meet here:

* RFC 7622 says what an address may contain: the local part is prepared with the PRECIS
  UsernameCaseMapped profile, the resource with OpaqueString (RFC 8264/8265), the domain with
  IDNA 2008 and the UTS 46 mapping, and A-labels become U-labels.  ``precis-i18n`` implements
  the PRECIS profiles from the Unicode data at run time; hand-written derived-property tables
  go stale and are easy to get wrong.
* slixmpp and Prosody 0.12 still apply the older stringprep profiles of RFC 6122 (nodeprep,
  resourceprep, nameprep over Unicode 3.2).  Some strings PRECIS allows are refused there (an
  emoji in a resource: unassigned in Unicode 3.2; U+FFFD) and some are mapped differently (a
  final sigma, fullwidth letters in a resource).  A refusal there used to surface much later
  as "internal error: InvalidJID"; it is now refused here, saying so.  For the local part and
  resource the older mapping is applied after PRECIS, because the server applies it anyway:
  the address xiot compares is the one slixmpp sends and the server reports back.  A domain
  the two IDNA generations read as different names (``straße``) is refused: it would be
  looked up under one name and greeted under the other.
* RFC 5122 ``xmpp:`` URIs, as copied from QR codes and web pages.
"""

from __future__ import annotations

import ipaddress
import logging
import re
import unicodedata
from dataclasses import dataclass
from functools import cache, lru_cache

from xiot.errors import UsageError

log = logging.getLogger("xiot")

#: Characters RFC 7622 section 3.3.1 keeps out of the local part (PRECIS would allow them).
FORBIDDEN_LOCAL = frozenset('"&\'/:<>@')
MAX_PART_BYTES = 1023
#: Far above any JID (three parts of 1023 bytes, percent-encoded in a URI): refused unread.
MAX_INPUT_CHARS = 10_000


@dataclass(frozen=True)
class Jid:
    """A prepared JID: ``local@domain/resource`` with optional local part and resource."""

    local: str | None
    domain: str
    resource: str | None = None

    @property
    def bare(self) -> str:
        return f"{self.local}@{self.domain}" if self.local else self.domain

    @property
    def is_full(self) -> bool:
        return self.resource is not None

    @property
    def domain_ascii(self) -> str:
        """The domain as DNS and certificates spell it (A-labels)."""
        if self.domain.startswith("[") or self.domain.isascii():
            return self.domain
        import idna

        return idna.encode(self.domain).decode("ascii")

    def __str__(self) -> str:
        return f"{self.bare}/{self.resource}" if self.resource else self.bare


class _Refused(ValueError):
    """Why one part is refused; ``parse_jid`` adds the whole input to the message."""


def parse_jid(text: str) -> Jid:
    """Parse and prepare ``text`` (a JID or an ``xmpp:`` URI); raise UsageError naming what
    is wrong."""
    raw = text.strip()
    if not raw:
        raise _bad(text, "it is empty")
    if len(raw) > MAX_INPUT_CHARS:
        raise _bad(text, f"it is longer than any JID can be ({len(raw)} characters)")
    try:
        if raw[:5].lower() == "xmpp:":
            local, domain, resource = _split_uri(raw)
        else:
            local, domain, resource = _split(raw)
        return Jid(
            _prepare_local(local) if local is not None else None,
            _prepare_domain(domain),
            _prepare_resource(resource) if resource is not None else None,
        )
    except _Refused as exc:
        raise _bad(text, str(exc)) from None


def _split(raw: str) -> tuple[str | None, str, str | None]:
    """``local@domain/resource``: the first '/' starts the resource, the last '@' before it
    ends the local part (RFC 7622 section 3.1)."""
    bare, slash, resource = raw.partition("/")
    if slash and not resource:
        raise _Refused("the resource after '/' is empty")
    local, at, domain = bare.rpartition("@")
    if at and not local:
        raise _Refused("the local part before '@' is empty")
    return (local if at else None), domain, (resource if slash else None)


# -- xmpp: URIs (RFC 5122) -----------------------------------------------------------------

_BAD_PERCENT = re.compile(r"%(?![0-9A-Fa-f]{2})")


def _split_uri(raw: str) -> tuple[str | None, str, str | None]:
    """The address an ``xmpp:`` URI names, its parts percent-decoded.

    What xiot does not act on is logged once at warning level through the ``xiot`` logger
    (the library never prints; the CLI shows warnings on stderr): the query (``?message``,
    ``?roster``: xiot takes only the address) and the account of the ``xmpp://account/``
    form (xiot logs in with the configured account).  A fragment is dropped silently, as
    RFC 5122 defines no meaning for it.
    """
    body = raw[5:].partition("#")[0]
    body, _, query = body.partition("?")
    ignored = []
    if query:
        ignored.append(f"its query '?{_show(query, 40)}' (xiot takes only the address)")
    if body.startswith("//"):
        account, _, body = body[2:].partition("/")
        if not body:
            raise _Refused(f"the URI names only an account to log in as ('{_show(account)}'), "
                           "not an address")
        ignored.append(f"its account '{_show(_decode(account), 60)}' (xiot logs in with the "
                       "configured one)")
    if not body:
        raise _Refused("the URI has no address after 'xmpp:'")
    local, domain, resource = _split(body)  # on the encoded form: %2F is not a separator
    if ignored:
        log.warning("xmpp: URI '%s': ignoring %s", _show(raw, 80), " and ".join(ignored))
    return (_decode(local) if local is not None else None, _decode(domain),
            _decode(resource) if resource is not None else None)


def _decode(part: str) -> str:
    from urllib.parse import unquote_to_bytes

    if _BAD_PERCENT.search(part):
        raise _Refused("a '%' in the URI is not followed by two hex digits")
    try:
        return unquote_to_bytes(part).decode("utf-8")
    except UnicodeDecodeError:
        raise _Refused("the URI's percent-encoded bytes are not UTF-8") from None


# -- the three parts -----------------------------------------------------------------------


#: Printable ASCII, where every rule above reduces to lower-casing a local part and leaving a
#: resource as it is (tests compare this shortcut with the full path, character by
#: character): most addresses take it, so a 10,000-device fleet file is read quickly.
_PLAIN_LOCAL = re.compile(r"[!#-%(-.0-9;=?A-~]+")
_PLAIN_RESOURCE = re.compile(r"[ -~]+")


def _prepare_local(local: str) -> str:
    if _PLAIN_LOCAL.fullmatch(local):
        return _within_limit(local.lower(), "local part")
    return _prepare_local_fully(local)


def _prepare_resource(resource: str) -> str:
    if _PLAIN_RESOURCE.fullmatch(resource):
        return _within_limit(resource, "resource")
    return _prepare_resource_fully(resource)


@lru_cache(maxsize=4096)
def _prepare_local_fully(local: str) -> str:
    bad = sorted(set(local) & FORBIDDEN_LOCAL)
    if bad:
        raise _Refused(f"the local part contains {''.join(bad)!r}")
    prepared = _precis("UsernameCaseMapped", local, "local part")
    prepared = _older_rules(prepared, "local part", NODEPREP)
    _stable("UsernameCaseMapped", prepared, "local part")
    return _within_limit(prepared, "local part")


@lru_cache(maxsize=4096)
def _prepare_resource_fully(resource: str) -> str:
    prepared = _precis("OpaqueString", resource, "resource")
    prepared = _older_rules(prepared, "resource", RESOURCEPREP)
    _stable("OpaqueString", prepared, "resource")
    return _within_limit(prepared, "resource")


@lru_cache(maxsize=4096)
def _prepare_domain(domain: str) -> str:
    if domain.endswith("."):
        domain = domain[:-1]
    if not domain:
        raise _Refused("the domain is empty")
    if domain.startswith("[") and domain.endswith("]"):
        try:
            return f"[{ipaddress.IPv6Address(domain[1:-1]).compressed}]"
        except ValueError:
            raise _Refused("the IPv6 literal is invalid") from None
    if re.fullmatch(r"\d{1,3}(\.\d{1,3}){3}", domain):
        try:
            return str(ipaddress.IPv4Address(domain))
        except ValueError:
            raise _Refused("the IPv4 address is invalid") from None
    return _prepare_domain_name(domain)


def _prepare_domain_name(domain: str) -> str:
    import idna

    for label in domain.split("."):
        if not label:
            raise _Refused("the domain has an empty label")
        if label.startswith("-") or label.endswith("-"):
            raise _Refused(f"the domain label '{_show(label, 40)}' starts or ends with '-'")
    try:
        ascii_form = idna.encode(domain, uts46=True, transitional=False).decode("ascii")
        unicode_form = idna.decode(ascii_form)
    except (idna.IDNAError, UnicodeError) as exc:
        raise _Refused(f"the domain is not a valid domain name: {_idna_reason(exc)}") from None
    for label in unicode_form.split("."):
        try:
            older = _stringprep(label, NAMEPREP)
        except _Refused as exc:
            raise _Refused(f"the domain is refused by the IDNA 2003 rules that slixmpp and "
                           f"many servers apply: {exc}") from None
        if older != label:
            raise _Refused(f"the domain label '{_show(label)}' means '{_show(older)}' under the "
                           "IDNA 2003 rules that slixmpp and many servers apply, another name "
                           "than IDNA 2008 gives")
    return _within_limit(unicode_form, "domain")


def _idna_reason(exc: Exception) -> str:
    text = str(exc)
    match = re.search(r"U\+([0-9A-Fa-f]{4,6})", text)
    if match:
        return f"it may not contain {_name(chr(int(match.group(1), 16)))}"
    return text[:1].lower() + text[1:].rstrip(".")


# -- PRECIS (RFC 8264/8265) ----------------------------------------------------------------

_PRECIS_WHY = {
    "spaces": "whitespace", "controls": "a control character",
    "precis_ignorable_properties": "an invisible or formatting character",
    "symbols": "a symbol", "punctuation": "punctuation",
    "has_compat": "a compatibility character", "other_letter_digits": "a character of that kind",
    "unassigned": "a character not assigned in Unicode", "old_hangul_jamo": "an old Hangul jamo",
    "other": "a character not allowed in addresses",
}


def _precis(profile: str, value: str, what: str) -> str:
    """``value`` through the named PRECIS profile, or _Refused naming the character."""
    try:
        return str(_profile(profile).enforce(value))
    except UnicodeEncodeError as exc:
        reason = str(exc.reason).rpartition("/")[2]
        if reason == "empty":
            raise _Refused(f"the {what} is empty") from None
        if reason == "bidi_rule":
            raise _Refused(f"the {what} mixes right-to-left and left-to-right text in a way "
                           "RFC 5893 forbids") from None
        if reason == "not_idempotent":
            raise _Refused(f"the {what} has no stable prepared form") from None
        char = value[exc.start] if exc.end - exc.start == 1 else None
        kind = _PRECIS_WHY.get(reason, "a character allowed only in certain contexts")
        shown = f"{_name(char)}, {kind}" if char else kind
        if reason == "spaces":
            shown = f"whitespace ({_name(char)})" if char else "whitespace"
        raise _Refused(f"the {what} may not contain {shown}") from None


@cache
def _profile(name: str):  # type: ignore[no-untyped-def]
    from precis_i18n import get_profile

    return get_profile(name)


def _stable(profile: str, value: str, what: str) -> None:
    if _precis(profile, value, what) != value:
        raise _Refused(f"the {what} has no stable prepared form")


def _within_limit(value: str, what: str) -> str:
    if len(value.encode("utf-8")) > MAX_PART_BYTES:
        raise _Refused(f"the {what} is longer than {MAX_PART_BYTES} bytes")
    return value


# -- the older stringprep profiles (RFC 3454, RFC 6122 appendices A and B, RFC 3491) -------


@dataclass(frozen=True)
class _StringprepProfile:
    name: str
    case_fold: bool  # table B.2
    prohibited: tuple[str, ...]  # names of stringprep.in_table_* checks
    extra: frozenset[str] = frozenset()


_COMMON = ("c12", "c22", "c3", "c4", "c5", "c6", "c7", "c8", "c9")
NODEPREP = _StringprepProfile("nodeprep", True, ("c11", "c21", *_COMMON),
                              frozenset(FORBIDDEN_LOCAL))
RESOURCEPREP = _StringprepProfile("resourceprep", False, ("c21", *_COMMON))
NAMEPREP = _StringprepProfile("nameprep", True, _COMMON)


def _older_rules(value: str, what: str, profile: _StringprepProfile) -> str:
    try:
        return _stringprep(value, profile)
    except _Refused as exc:
        raise _Refused(f"the {what} is refused by the RFC 6122 rules ({profile.name}) that "
                       f"slixmpp and many servers apply: {exc}") from None


def _stringprep(value: str, profile: _StringprepProfile) -> str:
    """``value`` through a stringprep profile for stored strings (unassigned code points
    refused, as slixmpp's JID class does)."""
    import stringprep

    mapped = "".join(
        "" if stringprep.in_table_b1(c)
        else stringprep.map_table_b2(c) if profile.case_fold else c
        for c in value
    )
    result = unicodedata.ucd_3_2_0.normalize("NFKC", mapped)
    checks = [getattr(stringprep, f"in_table_{name}") for name in profile.prohibited]
    for c in result:
        if stringprep.in_table_a1(c):
            raise _Refused(f"{_name(c)} is not assigned in Unicode 3.2")
        if c in profile.extra or any(check(c) for check in checks):
            raise _Refused(f"{_name(c)} is prohibited")
    right_to_left = [stringprep.in_table_d1(c) for c in result]
    if any(right_to_left) and (any(stringprep.in_table_d2(c) for c in result)
                               or not (right_to_left[0] and right_to_left[-1])):
        raise _Refused("it mixes right-to-left and left-to-right text")
    return result


# -- messages ------------------------------------------------------------------------------


def _name(char: str) -> str:
    """``U+202E RIGHT-TO-LEFT OVERRIDE``: names a character without printing it."""
    name = unicodedata.name(char, "")
    return f"U+{ord(char):04X} {name}" if name else f"U+{ord(char):04X}"


def _show(text: str, limit: int = 120) -> str:
    """``text`` safe to put in a one-line message: controls, format characters (bidi
    overrides) and separators escaped, long input cut."""
    if len(text) > limit:
        text = f"{text[:limit]}…"
    return "".join(_escape(c) if unicodedata.category(c) in _HIDDEN else c for c in text)


_HIDDEN = frozenset({"Cc", "Cf", "Cs", "Co", "Cn", "Zl", "Zp"})


def _escape(char: str) -> str:
    return f"\\u{ord(char):04x}" if ord(char) <= 0xFFFF else f"\\U{ord(char):08x}"


def _bad(text: str, why: str) -> UsageError:
    return UsageError(
        f"malformed JID '{_show(text.strip())}': {why}",
        "Write it as user@domain or user@domain/resource (an xmpp: URI also works)",
    )
