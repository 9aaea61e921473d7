"""The accounts file xiot writes: ``jid,password`` lines, mode 0600, appended as it goes.

It is how a later run gets the credentials it needs (a roster apply logs in as a device to
approve a subscription) and how an interrupted ``accounts create`` resumes without losing a
generated password: the password is written and flushed *before* the account is created, so
a crash between the two leaves a password that the next run reuses.  The last line for a JID
wins (a password change appends).
"""

from __future__ import annotations

import contextlib
import csv
import io
import os
from pathlib import Path

from xiot.errors import UsageError

HEADER = ("jid", "password")


class AccountsFile:
    def __init__(self, path: Path) -> None:
        self.path = path
        self._passwords: dict[str, str] | None = None

    def passwords(self) -> dict[str, str]:
        """{bare JID: password}, the last line of each JID winning; empty if no file."""
        if self._passwords is None:
            self._passwords = {}
            try:
                text = self.path.read_text(encoding="utf-8")
            except FileNotFoundError:
                return self._passwords
            except OSError as exc:
                raise UsageError(f"cannot read {self.path}: {exc.strerror}") from None
            for row in csv.DictReader(io.StringIO(text)):
                if row.get("jid") and row.get("password"):
                    self._passwords[row["jid"].strip().lower()] = row["password"]
        return self._passwords

    def get(self, jid: str) -> str | None:
        return self.passwords().get(jid.lower())

    def record(self, jid: str, password: str) -> None:
        """Append ``jid``'s password and make it durable before the caller goes on."""
        if self.get(jid) == password:
            return
        new = not self.path.exists()
        fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8", newline="") as handle:
            writer = csv.writer(handle)
            if new:
                writer.writerow(HEADER)
            writer.writerow((jid, password))
            handle.flush()
            os.fsync(handle.fileno())
        self.passwords()[jid.lower()] = password

    def forget(self, jid: str) -> None:
        """Drop ``jid`` (its account was deleted), rewriting the file atomically."""
        passwords = self.passwords()
        if passwords.pop(jid.lower(), None) is None:
            return
        tmp = self.path.with_name(f".{self.path.name}.{os.getpid()}.tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8", newline="") as handle:
            writer = csv.writer(handle)
            writer.writerow(HEADER)
            writer.writerows(passwords.items())
        os.replace(tmp, self.path)

    def check_private(self) -> str | None:
        """A warning if the file can be read by others (it holds passwords)."""
        with contextlib.suppress(FileNotFoundError):
            if self.path.stat().st_mode & 0o077:
                return f"{self.path} is readable by others: chmod 600 it"
        return None
