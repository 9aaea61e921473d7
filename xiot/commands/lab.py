"""``xiot lab``: a real Prosody (or ejabberd) on loopback, with accounts and a profile."""

from __future__ import annotations

import sys
from enum import StrEnum
from typing import TYPE_CHECKING

import typer

from xiot.commands import common

if TYPE_CHECKING:
    from xiot.lab.manager import Lab

app = common.typer_app(
    help="Run a real Prosody (or ejabberd) on loopback to try xiot against.",
    no_args_is_help=True,
    epilog="""\b
Examples:
  xiot lab up --devices 100        start (or reuse) the lab with 100 device accounts
  xiot lab up --server ejabberd --name ej    a second lab running ejabberd
  xiot lab up --open                 a lab as scansion suites expect (no TLS, any password)
  xiot --profile lab ping          use it: 'lab up' writes the 'lab' profile
  xiot lab accounts -o csv         the accounts (passwords stay in the lab's private files)
  xiot lab up                      after a crash: the same lab again (ports, CA, accounts)
  xiot lab down                    stop it and remove its files

The lab lives in $XDG_STATE_HOME/xiot/labs/NAME (XIOT_LAB_HOME overrides).  It needs
Debian's prosody package (or ejabberd for --server ejabberd) and never uses the system
server's config, service or epmd.""",
)

class Role(StrEnum):
    """Account roles in a lab."""

    admin = "admin"
    device = "device"


NAME = typer.Option("lab", "--name", help="Lab name; also the profile name it writes.")


_SERVER_NAMES = {"prosody": "Prosody", "ejabberd": "ejabberd"}


def _table_row(record: dict, ports: tuple[str, ...]) -> dict:
    """A lab as one narrow table row: every port in one cell, a local start time."""
    listening = [f"{key.removeprefix('port_')} {record[key]}" for key in ports
                 if record.get(key)]
    if record.get("dns_port"):
        listening.append(f"dns {record['dns_port']}")
    started = str(record.get("started_at") or "")
    return record | {"ports": f"{record['host']}: " + ", ".join(listening),
                     "server": f"{_SERVER_NAMES.get(str(record.get('server')), 'Prosody')} "
                               f"{record.get('server_version') or record.get('prosody_version')}"
                               + (" (open: no TLS, any password)" if record.get("open") else ""),
                     "started_at": started[:19].replace("T", " ")}


def _summary(record: dict) -> dict:
    """One flat record per lab: a column for every port kind (empty where it has none) and
    the start time in ISO 8601 (local time)."""
    import datetime as dt

    from xiot.lab.manager import PORT_KINDS

    ports = record.pop("ports", {})
    started = record.get("started_at")
    if isinstance(started, int | float):
        record["started_at"] = dt.datetime.fromtimestamp(started).astimezone().isoformat(
            timespec="seconds")
    return record | {f"port_{k}": ports.get(k) for k in PORT_KINDS}


@app.command("up", epilog="""\b
Examples:
  xiot lab up                        a lab named 'lab' with 20 devices
  xiot lab up -n 1000 --dns          1,000 devices and a DNS server for xiot probe
  xiot lab up --server ejabberd --name ej    ejabberd 23.01 (PubSub collections, more XEP-0060)
  xiot lab up --name ci --domain ci.test
  xiot lab up --open                 lab 'open': localhost, no TLS, any password accepted
  xiot --profile open replay run suite/*.scs    run scansion scripts against it

An open lab (--open) is Prosody as scansion suites expect their throw-away server: no TLS,
plaintext PLAIN authentication, and ANY password accepted for ANY user (Prosody's
mod_auth_insecure).  It listens on loopback only, like every lab; its profile uses
'--tls none', which xiot allows to loopback servers only.  Never put real data in it.""")
def up(
    ctx: typer.Context,
    name: str | None = typer.Option(
        None, "--name", show_default=False,
        help="Lab name; also the profile name it writes [default: lab, or open with --open]."),
    devices: int | None = typer.Option(
        None, "--devices", "-n", min=0, show_default=False,
        help="Device accounts to create (dev0001...), each subscribed to and by admin "
        "[default: 20 for a new lab; a stopped lab keeps its own]."),
    domain: str | None = typer.Option(None, "--domain", show_default=False,
                                      help="XMPP domain of the lab [default: xiot.test]."),
    host: str | None = typer.Option(None, "--host", show_default=False,
                                    help="Loopback address to listen on [default: 127.0.0.1]."),
    dns: bool = typer.Option(False, "--dns", help="Also serve the domain's SRV records from "
                             "a DNS server of the lab's own (for 'xiot probe --resolver')."),
    server: str | None = typer.Option(
        None, "--server", metavar="prosody|ejabberd", show_default=False,
        help="The XMPP server to run [default: prosody for a new lab; a stopped lab keeps "
        "its own]."),
    open_lab: bool = typer.Option(
        False, "--open", help="INSECURE, for test suites: no TLS, plaintext authentication, "
        "any password accepted for any user; domain localhost unless --domain; its profile "
        "uses --tls none (loopback only).  Prosody only."),
) -> None:
    """Start a private Prosody (or ejabberd) with a CA, admin and device accounts, a profile.

    Running 'up' on a lab that is already running reports it and changes nothing.  A lab
    whose server stopped (a crash, a reboot, a kill) comes back as it was: same ports, CA and
    accounts, so clients and simulators reconnect; asking for other --devices, --domain or
    --host builds a new lab instead.
    """
    from xiot.lab import manager
    from xiot.xmpp.jid import parse_jid

    if domain is not None:
        domain = parse_jid(domain).domain
    server = server or _root_server(ctx)
    name = name or ("open" if open_lab else "lab")
    lab, started = manager.up(name=name, devices=devices, domain=domain, host=host, dns=dns,
                              server=server, open=True if open_lab else None)
    verb = "started" if started else "already running"
    if started and lab.restarts:
        verb = "restarted with its ports, CA and accounts"
    mode = "no TLS, open authentication" if lab.open else "STARTTLS"
    print(f"xiot: lab '{lab.name}' {verb}: {lab.server} {lab.server_version}, "
          f"{lab.domain} on {lab.host}:{lab.ports['c2s']} "
          f"({mode}), {lab.devices} devices; use --profile {lab.name}", file=sys.stderr)
    if lab.open:
        print(f"xiot: warning: lab '{lab.name}' is OPEN: no TLS and ANY password is accepted "
              "for ANY user; its profile uses --tls none; for test suites on this machine "
              "only", file=sys.stderr)
    if lab.dns_port:
        print(f"xiot: lab DNS on {lab.host}:{lab.dns_port}: xiot probe {lab.domain} "
              f"--resolver {lab.host}:{lab.dns_port} --ca {lab.ca_file}", file=sys.stderr)
    if not started:
        _warn_not_applied(lab, dns=dns, devices=devices, domain=domain, host=host,
                          server=server)
        if open_lab and not lab.open:
            print(f"xiot: warning: --open not applied to the running lab '{lab.name}'; "
                  f"'xiot lab down --name {lab.name}' first, or give another --name",
                  file=sys.stderr)
    common.emit_one(ctx, _summary(lab.to_record() | {"started": started}))


def _root_server(ctx: typer.Context) -> str | None:
    """``--server`` given to ``lab up``: the root option of that name takes it (it is hoisted
    from anywhere on the line), so the lab reads it back from there."""
    from xiot.errors import UsageError
    from xiot.lab.manager import SERVERS

    value = common.runtime(ctx).options.server
    if value is None or value in SERVERS:
        return value
    raise UsageError(f"--server {value} is not a lab server",
                     f"'xiot lab up --server' takes {' or '.join(SERVERS)}")


def _warn_not_applied(lab: Lab, dns: bool, **asked: object) -> None:
    """Name the options the user gave that a running lab does not match (none if not given)."""
    record = {"devices": lab.devices, "domain": lab.domain, "host": lab.host,
              "server": lab.server}
    differs = [f"--{key} {value}" for key, value in asked.items()
               if value is not None and value != record[key]]
    if dns and lab.dns_port is None:
        differs.append("--dns")
    if differs:
        print(f"xiot: warning: {', '.join(differs)} not applied to the running lab; "
              f"'xiot lab down --name {lab.name}' first to change it", file=sys.stderr)


@app.command("down", epilog="""\b
Examples:
  xiot lab down
  xiot lab down --name ci --keep     stop it, keep the log and data for a look""")
def down(
    ctx: typer.Context,
    name: str = NAME,
    keep: bool = typer.Option(False, "--keep", help="Keep the lab directory (log, data)."),
) -> None:
    """Stop the lab's server by its pid and remove its files and profile."""
    from xiot.lab import manager

    lab = manager.down(name, keep=keep)
    if lab is None:
        print(f"xiot: no lab '{name}' to stop", file=sys.stderr)
        return
    print(f"xiot: lab '{name}' stopped", file=sys.stderr)


@app.command("status", epilog="""\b
Examples:
  xiot lab status
  xiot lab status --name ci -o json | jq .running""")
def status(ctx: typer.Context, name: str | None = typer.Option(
        None, "--name", help="One lab [default: all].")) -> None:
    """Show labs and whether their servers are running.  Exit 1 if a named lab is down."""
    from xiot.lab import manager

    labs = [lab for lab in [manager.load(name)] if lab] if name else manager.all_labs()
    table = common.output_format(ctx) == "table"
    ports = tuple(f"port_{kind}" for kind in manager.PORT_KINDS)
    columns = (("name", "running", "domain", "ports", "pid", "devices", "server", "started_at")
               if table else ("name", "running", "server", "server_version", "domain", "host",
                              *ports, "dns_port", "pid", "devices", "started_at", "directory"))
    out = common.sink(ctx, columns=columns, styles={"running": {"yes": "green", "no": "red"}})
    for lab in labs:
        record = _summary(lab.to_record())
        out.emit(_table_row(record, ports) if table else record)
    out.close()
    if name and not labs:
        print(f"xiot: no lab '{name}'; start one with 'xiot lab up --name {name}'",
              file=sys.stderr)
        raise typer.Exit(1)
    if name and not labs[0].running():
        print(f"xiot: lab '{name}' is not running", file=sys.stderr)
        raise typer.Exit(1)


@app.command("accounts", epilog="""\b
Examples:
  xiot lab accounts -o csv
  xiot lab accounts --role device | xiot readout -f -""")
def accounts(
    ctx: typer.Context,
    name: str = NAME,
    role: Role | None = typer.Option(None, "--role", help="Only admin or device accounts."),
) -> None:
    """List the lab's accounts (JID and role; passwords stay in the lab's accounts.csv).

    'xiot lab accounts --role device -o csv | xiot readout -f -' reads every device.
    """
    from xiot.lab import manager

    lab = manager.load(name)
    if lab is None:
        from xiot.errors import LabError

        raise LabError(f"no lab '{name}'", f"Start it with 'xiot lab up --name {name}'")
    out = common.sink(ctx, columns=("jid", "user", "role"))
    for account in manager.accounts(lab):
        if role and account.role != role.value:
            continue
        out.emit({"jid": account.jid, "user": account.user, "role": account.role})
    out.close()


