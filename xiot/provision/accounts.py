"""``provision accounts create|delete|passwd|list``: accounts from a CSV or JSON Lines file.

Two ways to reach the server, discovered: XEP-0133 admin commands when the profile's account
may run ``add-user`` (the bulk path, one connection), else XEP-0077 in-band registration (one
stream per account; password changes and deletions log in as the account, with the password
from the accounts file).  Every result says which method was used.

Re-running the same input changes nothing and says so (``unchanged``); an interrupted run
continues where it stopped, because each row's outcome is decided by what the server has.
"""

from __future__ import annotations

import secrets
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from xiot.errors import RemoteError, UsageError, XiotError
from xiot.fanout import bounded
from xiot.provision import admin
from xiot.provision.rows import Checked, Row, bare_jid, check_rows, parse_rows
from xiot.provision.store import AccountsFile

if TYPE_CHECKING:
    from xiot.xmpp.session import Session

ACTIONS = ("create", "delete", "passwd", "list")
METHODS = ("auto", "admin", "register")
COLUMNS = ("line", "jid", "action", "status", "method", "reason", "password")


@dataclass(frozen=True)
class AccountRow:
    line: int
    jid: str
    password: str | None = field(default=None, repr=False)


@dataclass(frozen=True)
class AccountResult:
    line: int | None
    jid: str
    action: str
    status: str  # created|deleted|updated|unchanged|exists|missing|failed|invalid
    method: str | None = None
    reason: str | None = None
    password: str | None = field(default=None, repr=False)

    @property
    def failed(self) -> bool:
        return self.status in ("failed", "invalid")

    def to_record(self, show_password: bool = False) -> dict[str, Any]:
        return {"line": self.line, "jid": self.jid, "action": self.action,
                "status": self.status, "method": self.method, "reason": self.reason,
                "password": self.password if show_password else None}


def check_accounts(text: str, name: str, action: str) -> Checked:
    """Rows of the input, every problem with its line (nothing is sent before this)."""
    if action not in ACTIONS:
        raise UsageError(f"unknown action {action!r}", f"Use one of {', '.join(ACTIONS)}")
    rows, problems = parse_rows(text, name)

    def build(row: Row) -> AccountRow:
        return AccountRow(row.line, bare_jid(row.get("jid")), row.get("password"))

    return check_rows(rows, problems, build, key=lambda item: item.jid)


@dataclass
class Plan:
    """How a run goes: the method, where passwords go, what the rows ask for."""

    action: str
    method: str
    store: AccountsFile | None
    timeout: float
    generate: bool = True


async def discover_method(session: Session, wanted: str, timeout: float) -> str:
    """``admin`` when the server lets this account run add-user, else ``register``."""
    if wanted not in METHODS:
        raise UsageError(f"--method {wanted}: use one of {', '.join(METHODS)}")
    if wanted != "auto":
        return wanted
    nodes = await admin.offered(session, timeout)
    return "admin" if admin.admin_node("add-user") in nodes else "register"


async def run_accounts(session: Session, plan: Plan, rows: Sequence[AccountRow],
                       limit: int) -> AsyncIterator[AccountResult]:
    """One result per row, as each finishes, ``limit`` in flight."""
    async def one(row: AccountRow) -> AccountResult:
        try:
            return await _one(session, plan, row)
        except XiotError as exc:
            if _fatal(exc):
                raise
            return AccountResult(row.line, row.jid, plan.action, "failed", plan.method,
                                 exc.message)

    async for result in bounded(rows, one, limit):
        yield result


def _fatal(exc: XiotError) -> bool:
    """Errors that would fail every row alike stop the run instead of filling the output."""
    from xiot.xmpp.session import ConnectionLost

    return isinstance(exc, ConnectionLost) or (
        isinstance(exc, RemoteError) and exc.condition in ("forbidden", "not-authorized"))


async def _one(session: Session, plan: Plan, row: AccountRow) -> AccountResult:
    if plan.action == "create":
        return await _create(session, plan, row)
    if plan.method == "admin":
        return await _admin_other(session, plan, row)
    return await _register_other(session, plan, row)


async def _create(session: Session, plan: Plan, row: AccountRow) -> AccountResult:
    known = plan.store.get(row.jid) if plan.store else None
    password = row.password or known or secrets.token_urlsafe(18)
    # written (and synced) before the account exists: a crash in between loses nothing
    if plan.store is not None:
        plan.store.record(row.jid, password)
    if plan.method == "admin":
        result = await admin.execute(session, admin.admin_node("add-user"),
                                     {"accountjid": row.jid, "password": password,
                                      "password-verify": password}, plan.timeout)
        error = result.error
        status = "created" if error is None else \
            "unchanged" if "exists" in error.lower() else "failed"
    else:
        from xiot.provision.ibr import register

        outcome = await register(session.settings, row.jid, password, plan.timeout)
        error = "already exists" if outcome == "exists" else None
        status = "created" if outcome == "created" else "unchanged"
    if status == "unchanged":
        error = "already exists"
        if plan.store is not None and known is None and not row.password:
            plan.store.forget(row.jid)  # not ours: the password we made up is not its own
    shown = password if status == "created" and not row.password else None
    return AccountResult(row.line, row.jid, "create", status, plan.method, error, shown)


async def _admin_other(session: Session, plan: Plan, row: AccountRow) -> AccountResult:
    if plan.action == "delete":
        result = await admin.execute(session, admin.admin_node("delete-user"),
                                     {"accountjids": [row.jid]}, plan.timeout)
        text = " ".join(t for _, t in result.notes)
        deleted = "successfully deleted" in text
        if deleted and plan.store is not None:
            plan.store.forget(row.jid)
        return AccountResult(row.line, row.jid, "delete", "deleted" if deleted else "unchanged",
                             "admin", None if deleted else "no such account")
    if plan.action == "passwd":
        password = row.password or secrets.token_urlsafe(18)
        result = await admin.execute(session, admin.admin_node("change-user-password"),
                                     {"accountjid": row.jid, "password": password},
                                     plan.timeout)
        if result.error:
            return AccountResult(row.line, row.jid, "passwd", "failed", "admin", result.error)
        if plan.store is not None:
            plan.store.record(row.jid, password)
        return AccountResult(row.line, row.jid, "passwd", "updated", "admin", None,
                             None if row.password else password)
    result = await admin.execute(session, admin.admin_node("user-stats"),
                                 {"accountjid": row.jid}, plan.timeout)
    if result.error:
        return AccountResult(row.line, row.jid, "list", "missing", "admin", result.error)
    values = result.form.values() if result.form else {}
    online = [r for r in str(values.get("onlineresources") or "").split() if r]
    reason = f"roster size {values.get('rostersize')}, {len(online)} online resource" + \
        ("s" * (len(online) != 1))
    return AccountResult(row.line, row.jid, "list", "exists", "admin", reason)


async def _register_other(session: Session, plan: Plan, row: AccountRow) -> AccountResult:
    """passwd, delete and list without admin rights: log in as the account."""
    from xiot.errors import AuthError
    from xiot.provision import ibr
    from xiot.xmpp.session import Session as Stream

    current = plan.store.get(row.jid) if plan.store else None
    if current is None:
        return AccountResult(row.line, row.jid, plan.action,
                             "unchanged" if plan.action == "list" else "failed", "register",
                             "no password for it in the accounts file (and no admin rights)")
    settings = session.settings.with_jid(f"{row.jid}/provision-{secrets.token_hex(4)}")
    try:
        async with Stream(settings, password=current) as own:
            if plan.action == "delete":
                await ibr.cancel(own, plan.timeout)
                if plan.store is not None:
                    plan.store.forget(row.jid)
                return AccountResult(row.line, row.jid, "delete", "deleted", "register")
            if plan.action == "passwd":
                password = row.password or secrets.token_urlsafe(18)
                await ibr.change_password(own, password, plan.timeout)
                if plan.store is not None:
                    plan.store.record(row.jid, password)
                return AccountResult(row.line, row.jid, "passwd", "updated", "register", None,
                                     None if row.password else password)
            return AccountResult(row.line, row.jid, "list", "exists", "register",
                                 "logged in with the recorded password")
    except AuthError:
        status = "missing" if plan.action == "list" else \
            "unchanged" if plan.action == "delete" else "failed"
        return AccountResult(row.line, row.jid, plan.action, status, "register",
                             "login refused: no such account, or another password")
