"""XEP-0030 service discovery as data: identities, features, items, extended info forms."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from xiot.errors import RemoteError, Timeout
from xiot.xmpp.errors import iq_error_text

if TYPE_CHECKING:
    from xiot.xmpp.session import Session

COLUMNS = ("kind", "jid", "node", "category", "type", "name", "var")


@dataclass(frozen=True)
class Identity:
    category: str
    type: str
    name: str | None = None
    lang: str | None = None


@dataclass(frozen=True)
class Item:
    jid: str
    node: str | None = None
    name: str | None = None


@dataclass(frozen=True)
class DiscoInfo:
    """What a JID (and node) says it is and supports."""

    jid: str
    node: str | None
    identities: tuple[Identity, ...]
    features: tuple[str, ...]
    forms: tuple[dict[str, Any], ...] = ()

    def has(self, feature: str) -> bool:
        return feature in self.features

    def to_records(self) -> list[dict[str, Any]]:
        """One row per identity, feature and extended-info field, with the same keys."""
        base = {k: None for k in COLUMNS} | {"jid": self.jid, "node": self.node}
        rows = [base | {"kind": "identity", "category": i.category, "type": i.type,
                        "name": i.name} for i in self.identities]
        rows += [base | {"kind": "feature", "var": f} for f in self.features]
        for form in self.forms:
            rows += [base | {"kind": "info", "var": var, "name": _join(value)}
                     for var, value in form.items()]
        return rows


@dataclass(frozen=True)
class DiscoItems:
    jid: str
    node: str | None
    items: tuple[Item, ...]

    def to_records(self) -> list[dict[str, Any]]:
        base = {k: None for k in COLUMNS}
        return [base | {"kind": "item", "jid": i.jid, "node": i.node, "name": i.name}
                for i in self.items]


def _join(value: Any) -> str:
    return ", ".join(map(str, value)) if isinstance(value, list | tuple) else str(value)


async def get_info(session: Session, jid: str, node: str | None, timeout: float) -> DiscoInfo:
    """disco#info of ``jid``/``node``; an error answer raises RemoteError (exit 7)."""
    iq = await _query(session, "get_info", jid, node, timeout)
    query = iq["disco_info"]
    identities = tuple(
        Identity(cat, typ, name or None, lang or None)
        for cat, typ, lang, name in query["identities"]
    )
    features = tuple(sorted(query["features"]))
    forms = tuple(_form_values(form) for form in iq.xml.iter("{jabber:x:data}x"))
    return DiscoInfo(jid, node, identities, features, forms)


async def get_items(session: Session, jid: str, node: str | None, timeout: float) -> DiscoItems:
    iq = await _query(session, "get_items", jid, node, timeout)
    found = iq["disco_items"]["items"]
    items = tuple(Item(str(j), n or None, name or None) for j, n, name in found)
    return DiscoItems(jid, node, items)


async def _query(session: Session, method: str, jid: str, node: str | None,
                 timeout: float) -> Any:
    from slixmpp.exceptions import IqError, IqTimeout

    try:
        extra = {"cached": False} if method == "get_info" else {}
        query = getattr(session.client.plugin["xep_0030"], method)
        return await session.guard(query(jid=jid, node=node, timeout=timeout, **extra))
    except IqError as exc:
        condition, text = iq_error_text(exc)
        what = f"{jid} node {node}" if node else jid
        raise RemoteError(f"{what} answered disco with {condition}" + (f": {text}" if text else ""),
                          _hint(condition), condition=condition) from None
    except IqTimeout:
        raise Timeout(f"{jid} did not answer disco within {timeout:g}s",
                      "Is the entity online? Raise --timeout if the server is slow") from None


def _hint(condition: str) -> str:
    if condition == "service-unavailable":
        return ("A bare JID of a user is answered by the server; give the full JID "
                "(user@domain/resource) to reach a connected device")
    if condition == "item-not-found":
        return "Check the node name"
    if condition in ("forbidden", "not-authorized"):
        return "The account is not allowed to see this; try another profile"
    return "See the error condition in RFC 6120 section 8.3.3"


def _form_values(form: Any) -> dict[str, Any]:
    """An extended-info form (XEP-0128) as {var: value or [values]}."""
    values: dict[str, Any] = {}
    for field in form.iter("{jabber:x:data}field"):
        var = field.get("var")
        if not var:
            continue
        found = [v.text or "" for v in field.iter("{jabber:x:data}value")]
        values[var] = found[0] if len(found) == 1 else found
    return values
