"""Running ``xiot provision`` commands: read and check the input, run, show results.

Split from ``commands/provision.py`` (the option definitions and help) to keep both short.
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path
from typing import Any

import typer

from xiot.commands import common

STATUS_STYLES = {"status": {"created": "green", "deleted": "green", "updated": "green",
                            "exists": "green", "removed": "green", "unchanged": "dim",
                            "pending": "yellow", "missing": "yellow", "failed": "red",
                            "invalid": "red"}}
METHOD_NAMES = {"admin": "XEP-0133 admin commands", "register": "XEP-0077 in-band registration"}


def _checked(ctx: typer.Context, file: str, check: Any) -> tuple[Any, str]:
    from xiot.records import read_text

    source = read_text(file)  # UTF-8 with or without a BOM; errors name the line
    text, name = source.text, source.where
    return check(text, name), name


def _refuse_or_keep(checked: Any, name: str, keep_going: bool) -> list[Any]:
    """Invalid rows stop everything (exit 2) unless --keep-going: then they are results."""
    from xiot.provision.rows import refuse

    if checked.problems and not keep_going:
        raise refuse(name, checked.problems)
    return checked.problems


def _finish(ctx: typer.Context, counts: Counter[str], note: str, failed: int) -> None:
    shown = ", ".join(f"{n} {status}" for status, n in sorted(counts.items())) or "no rows"
    common.say(ctx, f"{shown}{note}")
    if failed:
        raise typer.Exit(1)


def _progress(ctx: typer.Context, total: int, label: str) -> Any:
    from xiot.progress import FanOutProgress

    return FanOutProgress(total, label, enabled=common.runtime(ctx).env.stderr_isatty)


def run_accounts_command(ctx: typer.Context, action: str, file: str, method: str,
                         accounts_file: Path | None, show_passwords: bool, keep_going: bool,
                         concurrency: int) -> None:
    from xiot.errors import UsageError
    from xiot.provision.accounts import (
        COLUMNS,
        METHODS,
        AccountResult,
        Plan,
        check_accounts,
        discover_method,
        run_accounts,
    )
    from xiot.provision.store import AccountsFile

    if method not in METHODS:
        raise UsageError(f"--method {method}: use one of {', '.join(METHODS)}")
    checked, name = _checked(ctx, file, lambda text, n: check_accounts(text, n, action))
    problems = _refuse_or_keep(checked, name, keep_going)
    store = None
    if accounts_file is not None or not show_passwords:
        store = AccountsFile(accounts_file or Path("xiot-accounts.csv"))
        warning = store.check_private()
        if warning:
            common.say(ctx, f"warning: {warning}")
    rt = common.runtime(ctx)
    settings = common.settings(ctx)
    counts: Counter[str] = Counter()
    out = common.sink(ctx, columns=COLUMNS if show_passwords else COLUMNS[:-1],
                      styles=STATUS_STYLES)
    used: list[str] = []

    def emit(result: AccountResult) -> None:
        counts[result.status] += 1
        record = result.to_record(show_passwords)
        if not show_passwords:
            record.pop("password")
        out.emit(record)

    for problem in problems:
        emit(AccountResult(problem.line, "", action, "invalid", None, problem.reason))

    async def work(session: Any) -> None:
        chosen = await discover_method(session, method, settings.timeout)
        used.append(chosen)
        plan = Plan(action, chosen, store, settings.timeout)
        with _progress(ctx, len(checked.rows), f"{action} accounts") as bar:
            async for result in run_accounts(session, plan, checked.rows, concurrency):
                emit(result)
                bar.advance(not result.failed)

    try:
        if checked.rows:
            rt.session_run(work)
    finally:
        out.close()
    how = f" (via {METHOD_NAMES[used[0]]})" if used else ""
    where = f"; passwords in {store.path}" if store is not None and action in (
        "create", "passwd") and (counts["created"] or counts["updated"]) else ""
    _finish(ctx, counts, how + where, counts["failed"] + counts["invalid"])


def run_roster_command(ctx: typer.Context, file: str, dry_run: bool, prune: bool,
                       owner: str | None, shard: str | None, accounts_file: Path | None,
                       keep_going: bool, concurrency: int) -> None:
    from xiot.presence.model import Shard
    from xiot.provision.rosters import (
        COLUMNS,
        ApplyPlan,
        RosterResult,
        apply_rosters,
        check_roster_rows,
        in_shard,
    )
    from xiot.provision.store import AccountsFile

    share = Shard.parse(shard) if shard else None
    settings = common.settings(ctx)
    default_owner = owner or settings.jid
    checked, name = _checked(ctx, file,
                             lambda text, n: check_roster_rows(text, n, default_owner))
    problems = _refuse_or_keep(checked, name, keep_going)
    rows = in_shard(checked.rows, share)
    store = AccountsFile(accounts_file or Path("xiot-accounts.csv"))
    rt = common.runtime(ctx)
    counts: Counter[str] = Counter()
    out = common.sink(ctx, columns=COLUMNS, styles=STATUS_STYLES)

    def emit(result: RosterResult) -> None:
        counts[result.status] += 1
        out.emit(result.to_record())

    for problem in problems:
        emit(RosterResult(problem.line, "", "", "invalid", (), problem.reason))

    async def work(session: Any) -> None:
        with _progress(ctx, len(rows), "rosters") as bar:
            plan = ApplyPlan(store, dry_run, prune, settings.timeout, concurrency,
                             progress=bar.advance)
            async for result in apply_rosters(session, rows, plan):
                emit(result)

    try:
        if rows:
            rt.session_run(work)
    finally:
        out.close()
    skipped = len(checked.rows) - len(rows)
    note = f"; {skipped} rows outside shard {share}" if share and skipped else ""
    note += "; dry run: nothing was changed" if dry_run else ""
    _finish(ctx, counts, note, counts["failed"] + counts["invalid"])
