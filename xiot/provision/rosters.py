"""``provision roster apply``: make rosters match a desired state, subscriptions included.

Each input row is one item of one owner's roster: ``owner`` (default: the profile's JID),
``jid``, ``name``, ``groups`` and the ``subscription`` wanted (``both`` by default: the
mutual subscription an operator and its devices, or two devices, share).

Per owner: read its roster, set missing or different items, and do the owner's half of each
subscription (``subscribe`` for ``to``; ``subscribed`` for ``from``, a pre-approval when the
contact has not asked yet).  The other half needs the contact: where the accounts file xiot
wrote holds its password, xiot logs in as the contact and approves (and subscribes back);
otherwise the row is reported ``pending``.  The owner's roster is read again at the end, so
each result says what the server now holds.  Nothing is sent with ``dry_run``.
"""

from __future__ import annotations

import asyncio
import xml.etree.ElementTree as ET
from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from xiot.errors import XiotError
from xiot.fanout import bounded
from xiot.presence.model import Shard
from xiot.presence.roster import NS, Roster, RosterItem, fetch_roster
from xiot.provision.rows import Checked, Row, bare_jid, check_rows, parse_rows
from xiot.provision.store import AccountsFile

if TYPE_CHECKING:
    from xiot.xmpp.session import Session

SUBSCRIPTIONS = ("both", "to", "from", "none")
COLUMNS = ("line", "owner", "jid", "status", "changes", "reason")


@dataclass(frozen=True)
class RosterRow:
    line: int
    owner: str
    jid: str
    name: str | None = None
    groups: tuple[str, ...] = ()
    subscription: str = "both"

    @property
    def wants_to(self) -> bool:
        return self.subscription in ("to", "both")

    @property
    def wants_from(self) -> bool:
        return self.subscription in ("from", "both")


@dataclass(frozen=True)
class RosterResult:
    line: int | None
    owner: str
    jid: str
    status: str  # created|updated|unchanged|pending|removed|failed|invalid, would-* (dry run)
    changes: tuple[str, ...] = ()
    reason: str | None = None

    @property
    def failed(self) -> bool:
        return self.status in ("failed", "invalid")

    def to_record(self) -> dict[str, Any]:
        return {"line": self.line, "owner": self.owner, "jid": self.jid, "status": self.status,
                "changes": list(self.changes), "reason": self.reason}


def check_roster_rows(text: str, name: str, default_owner: str | None) -> Checked:
    rows, problems = parse_rows(text, name)

    def build(row: Row) -> RosterRow:
        owner = bare_jid(row.get("owner") or default_owner, "owner")
        jid = bare_jid(row.get("jid"))
        if owner == jid:
            raise ValueError(f"{jid} cannot be in its own roster")
        subscription = (row.get("subscription") or "both").lower()
        if subscription not in SUBSCRIPTIONS:
            raise ValueError(f"subscription {subscription!r}: use one of "
                             f"{', '.join(SUBSCRIPTIONS)}")
        return RosterRow(row.line, owner, jid, row.get("name"), row.items("groups"),
                         subscription)

    return check_rows(rows, problems, build, key=lambda item: (item.owner, item.jid))


def in_shard(rows: Sequence[RosterRow], shard: Shard | None) -> list[RosterRow]:
    """The rows whose contact falls in ``shard``: one operator account per share."""
    return [r for r in rows if shard is None or shard.holds(r.jid)]


def diff(current: RosterItem | None, row: RosterRow) -> list[str]:
    """What would change for ``row``: item fields, then the owner's subscription steps."""
    changes = []
    if current is None:
        changes.append("add item")
    else:
        if row.name is not None and current.name != row.name:
            changes.append(f"name {current.name!r} -> {row.name!r}")
        if set(row.groups) != set(current.groups) and (row.groups or current.groups):
            added = sorted(set(row.groups) - set(current.groups))
            gone = sorted(set(current.groups) - set(row.groups))
            changes.append("groups " + " ".join([f"+{g}" for g in added] +
                                                [f"-{g}" for g in gone]))
    sub = current.subscription if current else "none"
    if row.wants_to and sub not in ("to", "both"):
        changes.append("awaiting approval" if current and current.pending_out else "subscribe")
    if row.wants_from and sub not in ("from", "both"):
        changes.append("approve")
    return changes


@dataclass
class ApplyPlan:
    store: AccountsFile | None
    dry_run: bool
    prune: bool
    timeout: float
    limit: int = 20
    progress: Callable[[bool], None] | None = None


async def apply_rosters(session: Session, rows: Sequence[RosterRow], plan: ApplyPlan
                        ) -> AsyncIterator[RosterResult]:
    """Results per row (and per pruned item), one owner's batch at a time."""
    owners: dict[str, list[RosterRow]] = {}
    for row in rows:
        owners.setdefault(row.owner, []).append(row)

    async def one(owner: str) -> list[RosterResult]:
        try:
            return await _owner(session, owner, owners[owner], plan)
        except XiotError as exc:
            return [RosterResult(r.line, owner, r.jid, "failed", (), exc.message)
                    for r in owners[owner]]

    async for batch in bounded(list(owners), one, max(1, plan.limit // 4)):
        for result in batch:
            yield result


async def _owner(session: Session, owner: str, rows: list[RosterRow], plan: ApplyPlan
                 ) -> list[RosterResult]:
    if owner == session.jid.bare:
        return await _with_owner(session, rows, plan)
    password = plan.store.get(owner) if plan.store else None
    if password is None:
        return [RosterResult(r.line, owner, r.jid, "failed", (),
                             f"no password for {owner} in the accounts file") for r in rows]
    from xiot.xmpp.session import Session as Stream

    async with Stream(session.settings.with_jid(_as(owner)),
                      password=password) as own:
        return await _with_owner(own, rows, plan)


async def _with_owner(session: Session, rows: list[RosterRow], plan: ApplyPlan
                      ) -> list[RosterResult]:
    roster = await fetch_roster(session, plan.timeout, use_cache=False)
    planned = {r.jid: diff(roster.items.get(r.jid), r) for r in rows}
    extras = sorted(set(roster.items) - {r.jid for r in rows}) if plan.prune else []
    if plan.dry_run:
        return _dry(session.jid.bare, rows, planned, roster, extras)
    needs = [r for r in rows if {"subscribe", "approve", "awaiting approval"}
             & set(planned[r.jid])]
    # The Session answers no subscription request by itself: the input decides.
    await _owner_half(session, rows, roster, plan, {r.jid for r in needs})
    for jid in extras:
        await _set_item(session, jid, None, (), remove=True, timeout=plan.timeout)
    helped = await _contact_half(session, needs, plan)
    after = await fetch_roster(session, plan.timeout, use_cache=False)
    results = [_outcome(session.jid.bare, r, roster.items.get(r.jid), after.items.get(r.jid),
                        planned[r.jid], helped.get(r.jid)) for r in rows]
    results += [RosterResult(None, session.jid.bare, jid, "removed", ("remove item",))
                for jid in extras]
    return results


def _dry(owner: str, rows: list[RosterRow], planned: dict[str, list[str]], roster: Roster,
         extras: list[str]) -> list[RosterResult]:
    out = []
    for r in rows:
        changes = planned[r.jid]
        status = "unchanged" if not changes else \
            "would-create" if r.jid not in roster.items else "would-update"
        out.append(RosterResult(r.line, owner, r.jid, status, tuple(changes)))
    out += [RosterResult(None, owner, jid, "would-remove", ("remove item",)) for jid in extras]
    return out


async def _owner_half(session: Session, rows: list[RosterRow], roster: Roster,
                      plan: ApplyPlan, needs_contact: set[str]) -> None:
    """Items first (so the subscription lands on a named, grouped item), then presence."""
    async def item(row: RosterRow) -> None:
        current = roster.items.get(row.jid)
        name = row.name if row.name is not None else (current.name if current else None)
        if current is None or name != current.name or set(row.groups) != set(current.groups):
            await _set_item(session, row.jid, name, row.groups, timeout=plan.timeout)
        sub = current.subscription if current else "none"
        if row.wants_from and sub not in ("from", "both"):
            session.client.send_presence(pto=row.jid, ptype="subscribed")
        if row.wants_to and sub not in ("to", "both") and not (current and current.pending_out):
            session.client.send_presence(pto=row.jid, ptype="subscribe")
        if plan.progress is not None and row.jid not in needs_contact:
            plan.progress(True)  # done here; the others count when the contact answered

    async for _ in bounded(rows, item, plan.limit):
        pass


async def _contact_half(session: Session, rows: list[RosterRow], plan: ApplyPlan
                        ) -> dict[str, str]:
    """Log in as each contact whose password we hold and answer the owner: {jid: note}."""
    from xiot.xmpp.session import Session as Stream

    owner = session.jid.bare

    async def contact(row: RosterRow) -> tuple[str, str]:
        password = plan.store.get(row.jid) if plan.store else None
        if password is None:
            return row.jid, f"waiting for {row.jid} to approve (no password for it in the " \
                "accounts file)"
        try:
            async with Stream(session.settings.with_jid(_as(row.jid)),
                              password=password) as side:
                if row.wants_to:
                    side.client.send_presence(pto=owner, ptype="subscribed")
                if row.wants_from:
                    side.client.send_presence(pto=owner, ptype="subscribe")
                await _round_trip(side, plan.timeout)
        except XiotError as exc:
            return row.jid, f"could not log in as {row.jid}: {exc.message}"
        return row.jid, "approved as the contact"

    found = {}
    async for jid, note in bounded(rows, contact, plan.limit):
        found[jid] = note
        if plan.progress is not None:
            plan.progress(True)
    await _round_trip(session, plan.timeout)
    await asyncio.sleep(0.05)  # the server routes the answers to the owner's roster
    return found


def _outcome(owner: str, row: RosterRow, before: RosterItem | None, after: RosterItem | None,
             changes: list[str], note: str | None) -> RosterResult:
    if after is None:
        return RosterResult(row.line, owner, row.jid, "failed", tuple(changes),
                            "the item is not in the roster after setting it")
    remaining = diff(after, row)
    if remaining:
        reason = note or f"waiting for {row.jid} to approve"
        return RosterResult(row.line, owner, row.jid, "pending", tuple(changes), reason)
    status = "unchanged" if not changes else "created" if before is None else "updated"
    return RosterResult(row.line, owner, row.jid, status, tuple(changes))


async def _set_item(session: Session, jid: str, name: str | None, groups: Sequence[str],
                    timeout: float, remove: bool = False) -> None:
    from slixmpp.exceptions import IqError, IqTimeout

    from xiot.errors import RemoteError, Timeout

    iq = session.client.make_iq_set()
    query = ET.SubElement(iq.xml, f"{{{NS}}}query")
    item = ET.SubElement(query, f"{{{NS}}}item", {"jid": jid})
    if remove:
        item.set("subscription", "remove")
    if name:
        item.set("name", name)
    for group in groups:
        ET.SubElement(item, f"{{{NS}}}group").text = group
    try:
        await session.guard(iq.send(timeout=timeout))
    except IqError as exc:
        condition = exc.iq["error"]["condition"]
        raise RemoteError(f"the server refused the roster item {jid}: {condition}",
                          condition=condition) from None
    except IqTimeout:
        raise Timeout(f"no answer to the roster change of {jid}") from None


def _as(jid: str) -> str:
    """A full JID of its own for each login: two logins of one account (an owner that is also
    another owner's contact) must not knock each other off with a resource conflict."""
    import secrets

    return f"{jid}/provision-{secrets.token_hex(4)}"


async def _round_trip(session: Session, timeout: float) -> None:
    """A ping answered means everything sent before it has been handled by the server."""
    from xiot.xmpp.ping import ping_once

    await ping_once(session, session.jid.domain, 0, timeout)
