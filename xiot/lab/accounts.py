"""Lab accounts written straight into Prosody's file storage.

Registering through ``prosodyctl`` costs about 85 ms per account, far too slow for a lab of a
thousand devices.  Prosody's ``internal`` storage is one Lua file per account, so the lab writes
the SCRAM-SHA-1 credentials itself (what ``internal_hashed`` would store) and the rosters that
subscribe the operator to its devices, as real deployments arrange, before the server starts.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from xiot.lab.prosody import lua_string

ITERATIONS = 4096


@dataclass(frozen=True)
class Account:
    """One lab account; the password stays in the lab's private files."""

    user: str
    domain: str
    password: str
    role: str = "device"

    @property
    def jid(self) -> str:
        return f"{self.user}@{self.domain}"


def encode_name(name: str) -> str:
    """Prosody's file-name escaping: every non-alphanumeric byte becomes ``%xx``."""
    return "".join(
        chr(b) if chr(b).isascii() and chr(b).isalnum() else f"%{b:02x}"
        for b in name.encode("utf-8")
    )


def scram_sha1_credentials(
    password: str, salt: str | bytes, iterations: int = ITERATIONS
) -> dict:
    """The stored form of a password for Prosody's ``internal_hashed`` (RFC 5802 keys, hex).

    Prosody uses its salt string's bytes as the SCRAM salt, so a text salt is encoded as is.
    """
    raw_salt = salt.encode() if isinstance(salt, str) else salt
    salted = hashlib.pbkdf2_hmac("sha1", password.encode("utf-8"), raw_salt, iterations)
    client_key = hmac.new(salted, b"Client Key", hashlib.sha1).digest()
    server_key = hmac.new(salted, b"Server Key", hashlib.sha1).digest()
    return {
        "iteration_count": iterations,
        "salt": salt if isinstance(salt, str) else salt.decode("latin-1"),
        "server_key": server_key.hex(),
        "stored_key": hashlib.sha1(client_key).hexdigest(),
    }


def lua_table(value: object, indent: str = "") -> str:
    """Serialise dicts, strings, numbers and booleans as Prosody's storage files do."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value)
    if isinstance(value, str):
        return lua_string(value)
    if isinstance(value, dict):
        inner = indent + "\t"
        parts = []
        for key, item in value.items():
            lua_key = "false" if key is False else lua_string(str(key))
            parts.append(f"{inner}[{lua_key}] = {lua_table(item, inner)};\n")
        return "{\n" + "".join(parts) + indent + "}"
    raise TypeError(f"cannot store {type(value).__name__} in a Prosody data file")


def _write_store(data_path: Path, domain: str, store: str, user: str, value: dict) -> None:
    folder = data_path / encode_name(domain) / store
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{encode_name(user)}.dat"
    path.write_text("return " + lua_table(value) + ";\n", encoding="utf-8")
    path.chmod(0o600)


def write_account(data_path: Path, account: Account) -> None:
    creds = scram_sha1_credentials(account.password, str(uuid.uuid4()))
    _write_store(data_path, account.domain, "accounts", account.user, creds)


def write_roster(data_path: Path, owner: Account, contacts: Iterable[Account], group: str) -> None:
    """A roster where ``owner`` and each contact share presence both ways."""
    roster: dict = {False: {"version": 1, "pending": {}}}
    for contact in contacts:
        roster[contact.jid] = {
            "subscription": "both",
            "name": contact.user,
            "groups": {group: True},
        }
    _write_store(data_path, owner.domain, "roster", owner.user, roster)


def make_accounts(domain: str, devices: int, prefix: str = "dev") -> list[Account]:
    """An ``admin`` operator account and ``devices`` device accounts with random passwords."""
    width = max(4, len(str(devices)))
    accounts = [Account("admin", domain, secrets.token_urlsafe(18), role="admin")]
    accounts += [
        Account(f"{prefix}{i:0{width}d}", domain, secrets.token_urlsafe(18))
        for i in range(1, devices + 1)
    ]
    return accounts


def provision(data_path: Path, accounts: list[Account]) -> None:
    """Write every account and the operator<->device subscriptions."""
    admin = next(a for a in accounts if a.role == "admin")
    devices = [a for a in accounts if a.role != "admin"]
    for account in accounts:
        write_account(data_path, account)
    write_roster(data_path, admin, devices, group="devices")
    for device in devices:
        write_roster(data_path, device, [admin], group="operators")
