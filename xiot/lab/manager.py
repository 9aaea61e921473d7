"""Bring a lab up, find it again, and take it down.

A lab is a directory under ``$XDG_STATE_HOME/xiot/labs/<name>`` (or ``XIOT_LAB_HOME``) holding
the Prosody config, CA, server certificate, data, log and a ``lab.json`` that records what was
started.  ``up`` on a running lab returns it unchanged, so scripts can call it blindly; each
lab uses its own free ports, so several labs (and the test suite's) can run side by side.
"""

from __future__ import annotations

import contextlib
import csv
import json
import os
import shutil
import time
from dataclasses import asdict, dataclass
from pathlib import Path

from xiot.errors import LabError, UsageError
from xiot.lab import prosody
from xiot.lab.accounts import Account, make_accounts, provision
from xiot.lab.ca import CertificateAuthority, CertSpec, write_pem
from xiot.lab.ca import self_signed as self_signed_cert
from xiot.lab.ports import free_ports
from xiot.paths import config_dir, state_dir

DEFAULT_DOMAIN = "xiot.test"
DEFAULT_HOST = "127.0.0.1"
MAX_DEVICES = 20000


@dataclass(frozen=True)
class Lab:
    """A lab as recorded in its ``lab.json``: enough to reach, use and stop it."""

    name: str
    directory: str
    domain: str
    host: str
    ports: dict[str, int]
    pid: int
    admin_jid: str
    devices: int
    prosody_version: str
    started_at: float
    dns_port: int | None = None
    dns_pid: int | None = None

    @property
    def ca_file(self) -> Path:
        return Path(self.directory) / "ca.pem"

    @property
    def accounts_file(self) -> Path:
        return Path(self.directory) / "accounts.csv"

    @property
    def config_file(self) -> Path:
        return Path(self.directory) / "prosody.cfg.lua"

    @property
    def profile_file(self) -> Path:
        return config_dir() / "config.d" / f"{self.name}.yaml"

    def running(self) -> bool:
        return prosody.pid_is_ours(self.pid, self.config_file)

    def to_record(self) -> dict:
        record = asdict(self)
        record["running"] = self.running()
        record["ca"] = str(self.ca_file)
        record["profile"] = self.name
        return record


def labs_home() -> Path:
    override = os.environ.get("XIOT_LAB_HOME")
    return Path(override) if override else state_dir() / "labs"


def lab_dir(name: str) -> Path:
    if not name or not all(c.isalnum() or c in "-_" for c in name):
        raise UsageError(f"bad lab name '{name}'", "Use letters, digits, '-' and '_'")
    return labs_home() / name


def load(name: str) -> Lab | None:
    """The recorded lab called ``name``, running or not; None if there is none."""
    state = lab_dir(name) / "lab.json"
    try:
        data = json.loads(state.read_text())
        return Lab(**data)
    except FileNotFoundError:
        return None
    except (ValueError, TypeError) as exc:
        raise LabError(
            f"lab state {state} is damaged ({exc})", f"Remove {state.parent} and run lab up again"
        ) from None


def up(
    name: str = "lab",
    devices: int = 20,
    domain: str = DEFAULT_DOMAIN,
    host: str = DEFAULT_HOST,
    write_profile: bool = True,
    attempts: int = 3,
    cert: CertSpec | None = None,
    self_signed: bool = False,
    dns: bool = False,
) -> tuple[Lab, bool]:
    """Start the lab ``name``; returns (lab, started) where started is False if it was running.

    ``cert`` replaces the server certificate the lab's CA issues (probe tests use it for
    expired, wrongly named or otherName-only certificates); ``self_signed`` makes the server
    present a certificate that no CA issued, as a forgotten default install does.  ``dns``
    also starts a DNS server process answering the domain's SRV and address records.
    """
    if not 0 <= devices <= MAX_DEVICES:
        raise UsageError(f"--devices {devices} is out of range", f"Use 0 to {MAX_DEVICES}")
    _check_loopback(host)
    prosody.find_prosody()
    existing = load(name)
    if existing is not None and existing.running():
        if write_profile:
            _write_profile(existing)
        return existing, False
    directory = lab_dir(name)
    if directory.exists():
        shutil.rmtree(directory)
    directory.mkdir(parents=True, mode=0o700)
    accounts = make_accounts(domain, devices)
    _write_accounts_csv(directory / "accounts.csv", accounts)
    certs = _make_certificates(directory, domain, cert, self_signed)
    provision(directory / "data", accounts)
    last_error: LabError | None = None
    for _ in range(attempts):
        ports = prosody.Ports(*free_ports(4, host))
        cfg = prosody.ServerConfig(
            directory=directory, domain=domain, host=host, ports=ports,
            admin_jid=f"admin@{domain}", cert=certs[0], key=certs[1],
        )
        cfg.config_file.write_text(prosody.render_config(cfg))
        try:
            pid = prosody.start(cfg)
        except LabError as exc:  # most often a port taken between choosing and binding
            last_error = exc
            continue
        dns_pid, dns_port = _start_dns(directory, domain, host, ports.as_dict()) if dns \
            else (None, None)
        lab = Lab(
            name=name, directory=str(directory), domain=domain, host=host,
            ports=ports.as_dict(), pid=pid, admin_jid=f"admin@{domain}", devices=devices,
            prosody_version=prosody.server_version(cfg), started_at=time.time(),
            dns_port=dns_port, dns_pid=dns_pid,
        )
        (directory / "lab.json").write_text(json.dumps(asdict(lab), indent=2))
        if write_profile:
            _write_profile(lab)
        return lab, True
    assert last_error is not None
    raise last_error


def down(name: str = "lab", keep: bool = False) -> Lab | None:
    """Stop the lab's server by its pid and remove what ``up`` created.

    Returns the lab that was stopped, or None if there was none.  ``keep`` leaves the
    directory (log, data) in place for a post-mortem.
    """
    lab = load(name)
    directory = lab_dir(name)
    if lab is None:
        if directory.exists() and not keep:
            shutil.rmtree(directory)
        return None
    prosody.stop_pid(lab.pid, lab.config_file)
    if lab.dns_pid is not None:
        prosody.stop_pid(lab.dns_pid, Path(lab.directory) / "dns.json")
    with contextlib.suppress(FileNotFoundError):
        lab.profile_file.unlink()
    if not keep:
        shutil.rmtree(directory, ignore_errors=True)
    return lab


def status(name: str = "lab") -> Lab | None:
    return load(name)


def all_labs() -> list[Lab]:
    home = labs_home()
    if not home.is_dir():
        return []
    return [lab for d in sorted(home.iterdir()) if (lab := load(d.name)) is not None]


def accounts(lab: Lab) -> list[Account]:
    """The lab's accounts with their passwords (read from the lab's private CSV)."""
    with lab.accounts_file.open(newline="") as handle:
        return [
            Account(row["user"], lab.domain, row["password"], row["role"])
            for row in csv.DictReader(handle)
        ]


def require(name: str) -> Lab:
    """The running lab ``name``, or a LabError saying how to start it."""
    lab = load(name)
    if lab is None or not lab.running():
        raise LabError(f"lab '{name}' is not running", f"Start it with 'xiot lab up --name {name}'")
    return lab


def _start_dns(directory: Path, domain: str, host: str, ports: dict[str, int]
               ) -> tuple[int, int]:
    """Start the lab's DNS server process; (pid, port) once it answers."""
    import sys

    from xiot.lab.dnsd import records_for

    records, port_file = directory / "dns.json", directory / "dns.port"
    records.write_text(json.dumps(records_for(domain, host, ports)))
    proc = prosody.spawn_detached(
        [sys.executable, "-m", "xiot.lab.dnsd", str(records), str(port_file)], directory,
        directory / "dns.console")
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        if port_file.exists() and port_file.read_text().strip():
            return proc.pid, int(port_file.read_text())
        if proc.poll() is not None:
            break
        time.sleep(0.05)
    proc.kill()
    raise LabError("the lab DNS server did not start", f"See {directory / 'dns.console'}")


def _check_loopback(host: str) -> None:
    import ipaddress

    try:
        if ipaddress.ip_address(host).is_loopback:
            return
    except ValueError:
        pass
    raise UsageError(f"lab host {host} is not a loopback address", "Use 127.0.0.1 or ::1")


def _write_accounts_csv(path: Path, accounts: list[Account]) -> None:
    path.touch(mode=0o600)
    with path.open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["user", "jid", "password", "role"])
        for a in accounts:
            writer.writerow([a.user, a.jid, a.password, a.role])


def _make_certificates(
    directory: Path, domain: str, spec: CertSpec | None = None, self_signed: bool = False
) -> tuple[Path, Path]:
    """A private CA and a server certificate naming the domain and its components."""
    ca = CertificateAuthority.create(name=f"xiot lab CA ({domain})")
    ca.write(directory / "ca.pem", directory / "ca.key")
    names = (domain, f"pubsub.{domain}", f"conference.{domain}", "localhost")
    spec = spec or CertSpec(common_name=domain, dns_names=names,
                            ip_addresses=("127.0.0.1", "::1"), xmpp_addrs=(domain,))
    cert, key = self_signed_cert(spec) if self_signed else ca.issue(spec)
    (directory / "certs").mkdir(mode=0o700)
    cert_path, key_path = directory / "certs" / "server.crt", directory / "certs" / "server.key"
    write_pem(cert_path, key_path, cert, key)
    return cert_path, key_path


def _write_profile(lab: Lab) -> None:
    """A private drop-in profile so that ``xiot --profile NAME`` reaches the lab as admin."""
    import yaml

    admin = next(a for a in accounts(lab) if a.role == "admin")
    body = {
        "profiles": {
            lab.name: {
                "jid": admin.jid,
                "server": f"{lab.host}:{lab.ports['c2s']}",
                "tls": "starttls",
                "ca": str(lab.ca_file),
                "password": admin.password,
            }
        }
    }
    path = lab.profile_file
    path.parent.mkdir(parents=True, exist_ok=True)
    path.touch(mode=0o600)
    path.chmod(0o600)
    path.write_text("# Written by 'xiot lab up'; removed by 'xiot lab down'.\n"
                    + yaml.safe_dump(body, sort_keys=False))
