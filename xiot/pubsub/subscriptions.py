"""Subscriptions and affiliations: one's own, a node's (as owner), and pending approval."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from xiot.errors import RemoteError, Timeout, UsageError
from xiot.pubsub.core import (
    NS,
    NS_DATA,
    NS_OWNER,
    SUBSCRIBE_OPTIONS,
    Target,
    child,
    pubsub,
    q,
    request,
    submit_form,
)
from xiot.pubsub.model import Affiliation, Outcome, Subscription

if TYPE_CHECKING:
    from xiot.xmpp.session import Session

AFFILIATIONS = ("owner", "publisher", "publish-only", "member", "none", "outcast")
#: The disco feature an affiliation needs beyond the basics, where XEP-0060 names one.
_AFFILIATION_FEATURES = {"publish-only": "publish-only-affiliation",
                         "member": "member-affiliation", "outcast": "outcast-affiliation",
                         "publisher": "publisher-affiliation"}
STATES = ("subscribed", "pending", "unconfigured", "none")
NS_COMMANDS = "http://jabber.org/protocol/commands"


def parse_pairs(pairs: Sequence[str], allowed: Sequence[str], what: str) -> dict[str, str]:
    """``JID=VALUE`` words as {jid: value}, each value one of ``allowed``."""
    from xiot.pubsub.core import check_jid

    found: dict[str, str] = {}
    for pair in pairs:
        jid, sep, value = pair.rpartition("=")
        if not sep or not jid:
            raise UsageError(f"{what} {pair!r} is not JID=VALUE",
                             f"For example {what} dev0001@xiot.test={allowed[0]}")
        if value not in allowed:
            raise UsageError(f"{what} {pair!r}: '{value}' is not one of {', '.join(allowed)}")
        found[check_jid(jid)] = value
    return found


# ------------------------------------------------------------------------- subscriptions


async def subscribe(session: Session, where: Target, node: str, jid: str | None = None,
                    options: Mapping[str, Any] | None = None) -> Subscription:
    """Subscribe ``jid`` (default: this account's bare JID) to ``node``.

    The answer's state is ``subscribed``, or ``pending`` where the node's owner must approve
    (the authorize access model), or ``unconfigured`` where options are required first.
    """
    who = jid or session.jid.bare
    body = pubsub()
    ET.SubElement(body, q(NS, "subscribe"), {"node": node, "jid": who})
    if options:
        where.require("subscription-options", "subscribe with options")
        holder = ET.SubElement(body, q(NS, "options"), {"node": node, "jid": who})
        holder.append(submit_form(SUBSCRIBE_OPTIONS, _texts(options)))
    result = await request(session, where.service, "set", body, "subscribe", node)
    found = child(result, q(NS, "pubsub"), q(NS, "subscription"))
    if found is None:
        return Subscription(where.service, node, who, "subscribed")
    return Subscription(where.service, found.get("node") or node, found.get("jid") or who,
                        found.get("subscription") or "subscribed", found.get("subid"))


async def unsubscribe(session: Session, where: Target, node: str, jid: str | None = None,
                      subid: str | None = None) -> Subscription:
    who = jid or session.jid.bare
    body = pubsub()
    attrs = {"node": node, "jid": who} | ({"subid": subid} if subid else {})
    ET.SubElement(body, q(NS, "unsubscribe"), attrs)
    await request(session, where.service, "set", body, "unsubscribe", node)
    return Subscription(where.service, node, who, "none", subid)


async def set_options(session: Session, where: Target, node: str, options: Mapping[str, Any],
                      jid: str | None = None, subid: str | None = None) -> None:
    """Change one's subscription options: an iq of type ``set`` (slixmpp sends a ``get``)."""
    where.require("subscription-options", "change subscription options")
    who = jid or session.jid.bare
    body = pubsub()
    attrs = {"node": node, "jid": who} | ({"subid": subid} if subid else {})
    holder = ET.SubElement(body, q(NS, "options"), attrs)
    holder.append(submit_form(SUBSCRIBE_OPTIONS, _texts(options)))
    await request(session, where.service, "set", body, "change the subscription options", node)


def _texts(options: Mapping[str, Any]) -> dict[str, tuple[str, ...]]:
    out = {}
    for key, value in options.items():
        name = key if "#" in key else f"pubsub#{key}"
        values = value if isinstance(value, list | tuple) else [value]
        out[name] = tuple("true" if v is True else "false" if v is False else str(v)
                          for v in values)
    return out


async def subscriptions(session: Session, where: Target, node: str | None = None,
                        owner: bool = False) -> list[Subscription]:
    """This account's subscriptions (at ``node`` or everywhere), or, as ``owner``, every
    subscription to ``node``."""
    if owner and not node:
        raise UsageError("--owner needs a node", "Give the node whose subscribers to list")
    body = pubsub(owner=owner)
    ns = NS_OWNER if owner else NS
    ET.SubElement(body, q(ns, "subscriptions"), {"node": node} if node else {})
    what = "list the node's subscriptions" if owner else "list subscriptions"
    try:
        result = await request(session, where.service, "get", body, what, node)
    except Timeout as exc:
        if node:
            raise
        # Prosody 0.12.3 never answers a service-wide list once a node someone was
        # subscribed to has been deleted (an error on its side); a list per node works.
        raise Timeout(exc.message, "Some servers never answer a service-wide list; ask "
                      "node by node: 'xiot pubsub subscriptions NODE'") from None
    holder = child(result, q(ns, "pubsub"), q(ns, "subscriptions"))
    found = holder.findall(q(ns, "subscription")) if holder is not None else []
    default_node = (holder.get("node") if holder is not None else None) or node
    return [Subscription(where.service, el.get("node") or default_node, el.get("jid") or "",
                         el.get("subscription") or "subscribed", el.get("subid"))
            for el in found]


async def set_subscriptions(session: Session, where: Target, node: str,
                            states: Mapping[str, str], action: str = "subscription"
                            ) -> list[Outcome]:
    """As owner, set each JID's subscription state, one request each (see ``Outcome``)."""
    where.require("manage-subscriptions", "manage subscriptions")
    done = []
    for jid, state in states.items():
        body = pubsub(owner=True)
        holder = ET.SubElement(body, q(NS_OWNER, "subscriptions"), {"node": node})
        ET.SubElement(holder, q(NS_OWNER, "subscription"), {"jid": jid, "subscription": state})
        done.append(await _attempt(session, where, node, body, action, jid,
                                   f"set the subscription of {jid} to {state}"))
    return done


async def approve(session: Session, where: Target, node: str, jids: Sequence[str] = (),
                  deny: bool = False) -> list[Outcome]:
    """Approve (or deny) pending subscriptions to ``node``: those of ``jids``, or all.

    Pending requests are found in the node's subscriptions (XEP-0060 8.8.1) and, where the
    service offers it, with the get-pending command (8.7.2; ejabberd lists pending ones only
    that way); each is set to ``subscribed`` (or ``none``) as in 8.8.2.  A JID with nothing
    pending is reported failed.
    """
    where.require("manage-subscriptions", "approve subscriptions")
    pending = {s.jid.split("/")[0] for s in await subscriptions(session, where, node, owner=True)
               if s.subscription == "pending"}
    pending |= {s.jid.split("/")[0] for s in await pending_requests(session, where, node)}
    wanted = [j.split("/")[0] for j in jids] or sorted(pending)
    action = "deny" if deny else "approve"
    outcomes = [Outcome(where.service, node, action, jid, "failed",
                        f"{jid} has no pending subscription to '{node}'")
                for jid in wanted if jid not in pending]
    states = {jid: "none" if deny else "subscribed" for jid in wanted if jid in pending}
    return outcomes + (await set_subscriptions(session, where, node, states, action)
                       if states else [])


async def pending_requests(session: Session, where: Target, node: str) -> list[Subscription]:
    """Pending subscription requests to ``node`` through the get-pending command (8.7.2).

    The service answers the command by sending one authorization form per request as a
    message, ahead of the command's result on the same stream, so every form has arrived
    when the result does.  The messages go to the owner's available resources: the
    session must have sent presence.  Empty where the service has no such command.
    """
    if not where.has("get-pending"):
        return []
    forms: list[dict[str, str]] = []
    name = f"xiot pubsub pending {id(forms)}"
    session.client.register_handler(_authorization_handler(name, where.service, forms))
    try:
        start = ET.Element(q(NS_COMMANDS, "command"),
                           {"node": NS + "#get-pending", "action": "execute"})
        first = await request(session, where.service, "set", start, "list pending requests")
        command = child(first, q(NS_COMMANDS, "command"))
        sid = command.get("sessionid", "") if command is not None else ""
        submit = ET.Element(q(NS_COMMANDS, "command"),
                            {"node": NS + "#get-pending", "sessionid": sid})
        submit.append(submit_form(NS + "#subscribe_authorization", {"pubsub#node": (node,)}))
        try:
            await request(session, where.service, "set", submit, "list pending requests",
                          node)
        except RemoteError:
            return []  # nothing pending at that node (the form did not offer it)
    finally:
        session.client.remove_handler(name)
    return [Subscription(where.service, node, f.get("pubsub#subscriber_jid", ""), "pending",
                         f.get("pubsub#subid")) for f in forms
            if f.get("pubsub#node", node) == node]


def _authorization_handler(name: str, service: str, forms: list[dict[str, str]]) -> Any:
    from slixmpp.xmlstream.handler import Callback
    from slixmpp.xmlstream.matcher.base import MatcherBase

    form_tag = q(NS_DATA, "x")

    class _IsAuthorization(MatcherBase):
        def match(self, stanza: Any) -> bool:
            xml = stanza.xml
            return xml.tag == "{jabber:client}message" and xml.find(form_tag) is not None \
                and (xml.get("from") or "") == service

    def collect(stanza: Any) -> None:
        values = {}
        for field in stanza.xml.find(form_tag).iter(q(NS_DATA, "field")):
            value = field.find(q(NS_DATA, "value"))
            values[field.get("var", "")] = value.text or "" if value is not None else ""
        if values.get("FORM_TYPE") == NS + "#subscribe_authorization":
            forms.append(values)

    return Callback(name, _IsAuthorization(None), collect)


# -------------------------------------------------------------------------- affiliations


async def affiliations(session: Session, where: Target, node: str | None = None,
                       owner: bool = False) -> list[Affiliation]:
    """This account's affiliations, or, as ``owner``, every affiliation with ``node``."""
    if owner and not node:
        raise UsageError("--owner needs a node", "Give the node whose affiliations to list")
    if not owner:
        where.require("retrieve-affiliations", "list one's affiliations")
    body = pubsub(owner=owner)
    ns = NS_OWNER if owner else NS
    ET.SubElement(body, q(ns, "affiliations"), {"node": node} if node else {})
    what = "list the node's affiliations" if owner else "list affiliations"
    result = await request(session, where.service, "get", body, what, node)
    holder = child(result, q(ns, "pubsub"), q(ns, "affiliations"))
    found = holder.findall(q(ns, "affiliation")) if holder is not None else []
    default_node = (holder.get("node") if holder is not None else None) or node
    mine = session.jid.bare
    return [Affiliation(where.service, el.get("node") or default_node,
                        el.get("jid") or mine, el.get("affiliation") or "none")
            for el in found]


def check_affiliations(where: Target, wanted: Mapping[str, str]) -> None:
    """Refuse, before sending, an affiliation the service does not advertise."""
    for value in set(wanted.values()):
        if value not in AFFILIATIONS:
            raise UsageError(f"unknown affiliation '{value}'",
                             f"Use one of {', '.join(AFFILIATIONS)}")
        feature = _AFFILIATION_FEATURES.get(value)
        if feature and value != "publisher":
            where.require(feature, f"set the {value} affiliation")
    where.require("modify-affiliations", "change affiliations")


async def set_affiliations(session: Session, where: Target, node: str,
                           wanted: Mapping[str, str]) -> list[Outcome]:
    """As owner, set each JID's affiliation with ``node``, one request each."""
    check_affiliations(where, wanted)
    done = []
    for jid, value in wanted.items():
        body = pubsub(owner=True)
        holder = ET.SubElement(body, q(NS_OWNER, "affiliations"), {"node": node})
        ET.SubElement(holder, q(NS_OWNER, "affiliation"), {"jid": jid, "affiliation": value})
        done.append(await _attempt(session, where, node, body, f"affiliation={value}", jid,
                                   f"make {jid} {value}"))
    return done


async def _attempt(session: Session, where: Target, node: str, body: ET.Element,
                   action: str, jid: str, what: str) -> Outcome:
    try:
        await request(session, where.service, "set", body, what, node)
    except RemoteError as exc:
        return Outcome(where.service, node, action, jid, "failed", exc.message)
    return Outcome(where.service, node, action, jid)
