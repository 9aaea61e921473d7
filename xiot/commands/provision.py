"""``xiot provision``: accounts and rosters from CSV or JSON Lines, idempotently."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import typer

from xiot.commands import common

app = common.typer_app(
    help="Create accounts and rosters from CSV or JSON Lines, idempotently.",
    no_args_is_help=True,
    epilog="""\b
Examples:
  xiot provision accounts create devices.csv          passwords to xiot-accounts.csv
  xiot provision roster apply fleet.csv --dry-run      what would change
  xiot provision roster apply fleet.csv                operator <-> devices, both ways""",
)
accounts_app = common.typer_app(
    help="Create, delete, re-password or check accounts listed in a file.",
    no_args_is_help=True,
    epilog="""\b
Examples:
  xiot provision accounts create devices.csv
  xiot provision accounts list devices.csv -o table
  xiot provision accounts passwd devices.csv --show-passwords
  xiot provision accounts delete old.jsonl""",
)
roster_app = common.typer_app(
    help="Make rosters and subscriptions match a file.",
    no_args_is_help=True,
    epilog="""\b
Examples:
  xiot provision roster apply fleet.csv --dry-run
  xiot provision roster apply fleet.csv --prune""",
)
app.add_typer(accounts_app, name="accounts")
app.add_typer(roster_app, name="roster")

DEFAULT_ACCOUNTS_FILE = "xiot-accounts.csv"

INPUT_HELP = """\b
Input (FILE, or '-' for stdin) is CSV with a header line, or JSON Lines (one object per
line; chosen by the first character).  Lines starting with '#' are comments.  Every row
is checked before anything is sent: a bad JID, a missing column or a duplicate is named
with its line number and nothing changes (exit 2), unless --keep-going, which processes
the valid rows and reports the others as 'invalid'.
One result per input row (NDJSON when piped, a table on a terminal): line, the row's
JID, status and reason; a progress bar on a terminal.  Exit status: 0 if every row is
done (or already was), 1 if any failed, 2 for invalid input."""


@app.callback()
def provision() -> None:
    """Create accounts and rosters from CSV or JSON Lines, idempotently."""


@accounts_app.callback()
def accounts() -> None:
    """Create, delete, re-password or check accounts listed in a file."""


@roster_app.callback()
def roster() -> None:
    """Make rosters and subscriptions match a file."""


def _accounts_file() -> Any:
    return typer.Option(None, "--accounts-file", metavar="FILE", show_default=False,
                        help=f"Where passwords are kept (mode 0600) [default: "
                        f"{DEFAULT_ACCOUNTS_FILE}].")


def _keep_going() -> Any:
    return typer.Option(False, "--keep-going", help="Process the valid rows even if some "
                        "are invalid (those are reported, exit 1).")


def _concurrency() -> Any:
    from xiot.commands.options import concurrency

    return concurrency(20, 500, "Rows in flight")


ACCOUNT_EPILOG = """\b
Examples:
  xiot provision accounts {action} devices.csv
  printf 'jid\\npump1@plant.example\\n' | xiot provision accounts {action} -
  xiot provision accounts {action} devices.jsonl --keep-going -o ndjson

\b
Columns (CSV header) or keys (JSON Lines): jid (required, a bare JID), password
(optional: create and passwd generate one when it is missing).
How: XEP-0133 admin commands when the profile's account may run them (one connection, the
bulk path), otherwise XEP-0077 in-band registration (create registers on a stream of its
own; passwd, delete and list log in as the account with the password from the accounts
file).  --method forces one; each result's 'method' says which was used.
Passwords xiot generates are written to the accounts file (created with mode 0600, a line
per account, written before the account is created so an interrupted run resumes without
losing one), or shown once in the results with --show-passwords; never in logs.
Statuses: created, deleted, updated (new password), exists / missing (list), unchanged
(already so: re-running the same input changes nothing), failed, invalid.
""" + INPUT_HELP


def _account_command(action: str, summary: str) -> None:
    @accounts_app.command(action, help=summary, epilog=ACCOUNT_EPILOG.format(action=action))
    def command(
        ctx: typer.Context,
        file: str = typer.Argument(..., metavar="FILE", help="CSV or JSON Lines ('-': stdin)."),
        method: str = typer.Option("auto", "--method", metavar="METHOD",
                                   help="auto, admin (XEP-0133) or register (XEP-0077)."),
        accounts_file: Path | None = _accounts_file(),
        show_passwords: bool = typer.Option(False, "--show-passwords",
                                            help="Show generated passwords once in the "
                                            "results instead of writing the accounts file."),
        keep_going: bool = _keep_going(),
        concurrency: int = _concurrency(),
    ) -> None:
        from xiot.commands.provision_run import run_accounts_command

        run_accounts_command(ctx, action, file, method, accounts_file, show_passwords,
                             keep_going, concurrency)


for _action, _summary in (("create", "Create accounts (generating missing passwords)."),
                          ("delete", "Delete accounts."),
                          ("passwd", "Set new passwords (generated when not given)."),
                          ("list", "Check which accounts exist.")):
    _account_command(_action, _summary)


@roster_app.command("apply", epilog="""\b
Examples:
  xiot provision roster apply fleet.csv --dry-run      the diff, nothing sent
  xiot provision roster apply fleet.csv --prune        also remove items not in the file
  xiot lab accounts --role device | xiot provision roster apply - --owner ops@plant.example
  xiot provision roster apply all.csv --shard 2/4 --owner ops2@plant.example

\b
Columns (CSV header) or keys (JSON Lines): jid (required), owner (whose roster; default
--owner, else the profile's JID), name, groups (CSV: 'a;b'; JSON: a list), subscription
(both [default], to, from or none).  'both' is the mutual subscription between an operator
and its devices, or between two devices.
Per owner the roster is read, missing or different items are set, and the owner's half of
each subscription is sent (subscribe; subscribed as a pre-approval).  Approving needs the
other side: where the accounts file holds the contact's password, xiot logs in as it and
approves (and subscribes back); otherwise the row is 'pending'.  An owner other than the
profile's account also needs its password in the accounts file.
Statuses: created, updated, unchanged, pending, removed (--prune), failed, invalid; with
--dry-run: would-create, would-update, would-remove, unchanged, and 'changes' lists what.
--shard K/N keeps only rows whose contact is in share K of N (the same stable hash as
'presence watch --shard'): one operator account per share of a large fleet.
""" + INPUT_HELP)
def apply(
    ctx: typer.Context,
    file: str = typer.Argument(..., metavar="FILE", help="CSV or JSON Lines ('-': stdin)."),
    dry_run: bool = typer.Option(False, "--dry-run", help="Print the diff; change nothing."),
    prune: bool = typer.Option(False, "--prune", help="Remove roster items of the owners in "
                               "the file that the file does not list."),
    owner: str | None = typer.Option(None, "--owner", metavar="JID", show_default=False,
                                     help="Owner for rows without one [default: your JID]."),
    shard: str | None = typer.Option(None, "--shard", metavar="K/N", show_default=False,
                                     help="Only rows whose contact is in share K of N."),
    accounts_file: Path | None = _accounts_file(),
    keep_going: bool = _keep_going(),
    concurrency: int = _concurrency(),
) -> None:
    """Make rosters (items, names, groups, subscriptions) match a file."""
    from xiot.commands.provision_run import run_roster_command

    run_roster_command(ctx, file, dry_run, prune, owner, shard, accounts_file, keep_going,
                       concurrency)
