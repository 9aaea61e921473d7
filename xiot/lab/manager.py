"""Bring a lab up, find it again, and take it down.

A lab is a directory under ``$XDG_STATE_HOME/xiot/labs/<name>`` (or ``XIOT_LAB_HOME``) holding
the server's config (Prosody, or ejabberd with ``server="ejabberd"``), CA, server certificate,
data, log and a ``lab.json`` that records what was started.  ``up`` on a running lab returns
it unchanged, so scripts can call it blindly; each lab uses its own free ports, so several
labs (and the test suite's) can run side by side.
"""

from __future__ import annotations

import contextlib
import csv
import json
import os
import shutil
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, fields, replace
from pathlib import Path

from xiot.errors import LabError, UsageError
from xiot.lab import ejabberd, prosody
from xiot.lab.accounts import Account, make_accounts, provision
from xiot.lab.ca import CertificateAuthority, CertSpec, write_pem
from xiot.lab.ca import self_signed as self_signed_cert
from xiot.lab.ports import free_ports
from xiot.paths import config_dir, state_dir

DEFAULT_DOMAIN = "xiot.test"
#: An open lab serves the domain scansion suites are written for.
OPEN_DOMAIN = "localhost"
DEFAULT_HOST = "127.0.0.1"
DEFAULT_DEVICES = 20
#: The servers a lab can run.
SERVERS = ("prosody", "ejabberd")
#: Every listener a lab may have, in the order ``lab status`` shows them (``dist`` is the
#: Erlang distribution port of an ejabberd lab).
PORT_KINDS = (*(field.name for field in fields(prosody.Ports)), "dist")
_CONFIG_NAMES = {"prosody": "prosody.cfg.lua", "ejabberd": "ejabberd.yml"}
_DATA_NAMES = {"prosody": "data", "ejabberd": "db"}
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
    server_version: str
    started_at: float
    dns_port: int | None = None
    dns_pid: int | None = None
    #: How often ``up`` brought this lab back after its server had stopped.
    restarts: int = 0
    #: ``prosody`` or ``ejabberd``.
    server: str = "prosody"
    #: An open lab: no TLS, plaintext authentication, any password (``lab up --open``).
    open: bool = False

    @property
    def tls(self) -> str:
        """The TLS mode that reaches this lab: ``none`` for an open lab."""
        return "none" if self.open else "starttls"

    @property
    def prosody_version(self) -> str:
        """The server's version (the name older lab states and callers use)."""
        return self.server_version

    @property
    def ca_file(self) -> Path:
        return Path(self.directory) / "ca.pem"

    @property
    def accounts_file(self) -> Path:
        return Path(self.directory) / "accounts.csv"

    @property
    def config_file(self) -> Path:
        return Path(self.directory) / _CONFIG_NAMES[self.server]

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
        if "prosody_version" in data:  # written before ejabberd labs existed
            data["server_version"] = data.pop("prosody_version")
        return Lab(**data)
    except FileNotFoundError:
        return None
    except (ValueError, TypeError) as exc:
        raise LabError(
            f"lab state {state} is damaged ({exc})", f"Remove {state.parent} and run lab up again"
        ) from None


def up(
    name: str = "lab",
    devices: int | None = None,
    domain: str | None = None,
    host: str | None = None,
    write_profile: bool = True,
    attempts: int = 3,
    cert: CertSpec | None = None,
    self_signed: bool = False,
    dns: bool = False,
    server: str | None = None,
    open: bool | None = None,
) -> tuple[Lab, bool]:
    """Start the lab ``name``; returns (lab, started) where started is False if it was running.

    A lab that is recorded but not running (its server crashed or was killed) is restarted as
    it was: same ports, CA, certificate and accounts, so clients and simulators that knew it
    reconnect.  It is built afresh only when asked for something else (another ``devices``,
    ``domain`` or ``host``, or a ``cert``) or when its files are gone.  ``None`` means "as
    recorded" for an existing lab and the default for a new one.

    ``cert`` replaces the server certificate the lab's CA issues (probe tests use it for
    expired, wrongly named or otherName-only certificates); ``self_signed`` makes the server
    present a certificate that no CA issued, as a forgotten default install does.  ``dns``
    also starts a DNS server process answering the domain's SRV and address records.
    ``server`` is ``prosody`` (the default for a new lab) or ``ejabberd``.

    ``open`` makes a Prosody lab as scansion suites expect their server: no TLS, plaintext
    PLAIN, any password for any user (``mod_auth_insecure``), on loopback like every lab; a
    new open lab serves ``localhost`` unless ``domain`` says otherwise.
    """
    if server is not None and server not in SERVERS:
        raise UsageError(f"unknown lab server '{server}'", f"Use one of {', '.join(SERVERS)}")
    if open and (server == "ejabberd" or dns or cert is not None or self_signed):
        raise UsageError("an open lab is a Prosody without TLS",
                         "--open does not combine with --server ejabberd or --dns")
    if devices is not None and not 0 <= devices <= MAX_DEVICES:
        raise UsageError(f"--devices {devices} is out of range", f"Use 0 to {MAX_DEVICES}")
    if host is not None:
        _check_loopback(host)
    existing = load(name)
    _check_installed(server or (existing.server if existing else "prosody"))
    if existing is not None and existing.running():
        if write_profile:
            _write_profile(existing)
        return existing, False
    if existing is not None and _restartable(existing, devices, domain, host, cert, self_signed,
                                             server, open):
        lab = _restart(existing, dns or existing.dns_port is not None)
    else:
        lab = _create(name, DEFAULT_DEVICES if devices is None else devices,
                      domain or (OPEN_DOMAIN if open else DEFAULT_DOMAIN), host or DEFAULT_HOST,
                      attempts, cert, self_signed, dns, server or "prosody", bool(open))
    if write_profile:
        _write_profile(lab)
    return lab, True


def _check_installed(server: str) -> None:
    """A LabError saying how to install ``server`` when it is missing."""
    if server == "ejabberd":
        ejabberd.find_ejabberd()
    else:
        prosody.find_prosody()


def _restartable(lab: Lab, devices: int | None, domain: str | None, host: str | None,
                 cert: CertSpec | None, self_signed: bool, server: str | None = None,
                 open: bool | None = None) -> bool:
    """Whether ``up`` should bring ``lab`` back as it was rather than build a new one."""
    if cert is not None or self_signed:
        return False
    asked = {"devices": devices, "domain": domain, "host": host, "server": server,
             "open": open}
    recorded = {"devices": lab.devices, "domain": lab.domain, "host": lab.host,
                "server": lab.server, "open": lab.open}
    if any(value is not None and value != recorded[key] for key, value in asked.items()):
        return False
    directory = Path(lab.directory)
    needed = (lab.config_file, lab.ca_file, directory / "ca.key", lab.accounts_file,
              directory / "certs" / "server.crt", directory / "certs" / "server.key",
              directory / _DATA_NAMES[lab.server])
    return all(path.exists() for path in needed)


def _create(name: str, devices: int, domain: str, host: str, attempts: int,
            cert: CertSpec | None, self_signed: bool, dns: bool, server: str = "prosody",
            open: bool = False) -> Lab:
    """Build a new lab: CA, certificate, accounts in the server's storage, free ports.

    If the start fails the lab's state is removed (its files stay for a post-mortem); if it is
    interrupted nothing of it is left.
    """
    directory = lab_dir(name)
    down(name)  # whatever is left of an older lab of that name, its DNS server included
    directory.mkdir(parents=True, mode=0o700)
    try:
        accounts = make_accounts(domain, devices)
        _write_accounts_csv(directory / "accounts.csv", accounts)
        certs = _make_certificates(directory, domain, cert, self_signed)
        if server == "prosody":
            provision(directory / "data", accounts)
        last_error: LabError | None = None
        for _ in range(attempts):
            kinds = ejabberd.PORT_KINDS if server == "ejabberd" else PORT_KINDS[:4]
            if open:  # no TLS, so no direct TLS port
                kinds = tuple(kind for kind in kinds if kind != "c2s_direct")
            ports = dict(zip(kinds, free_ports(len(kinds), host), strict=True))
            lab = Lab(name=name, directory=str(directory), domain=domain, host=host,
                      ports=ports, pid=0, admin_jid=f"admin@{domain}", devices=devices,
                      server_version="unknown", started_at=time.time(), server=server,
                      open=open)
            cfg = _server_config(lab, certs)
            if isinstance(cfg, ejabberd.ServerConfig):
                ejabberd.write_provisioning(cfg, accounts)
            try:
                return _launch(lab, cfg, dns)
            except LabError as exc:  # most often a port taken between choosing and binding
                last_error = exc
        assert last_error is not None
        raise last_error
    except LabError:
        (directory / "lab.json").unlink(missing_ok=True)
        raise
    except BaseException:
        down(name)
        raise


def _restart(lab: Lab, dns: bool) -> Lab:
    """Start a crashed lab's server again on its recorded ports, with its files as they are."""
    directory = Path(lab.directory)
    certs = (directory / "certs" / "server.crt", directory / "certs" / "server.key")
    lab = replace(lab, restarts=lab.restarts + 1, started_at=time.time())
    dns_pid, dns_port = lab.dns_pid, lab.dns_port
    if dns_pid is not None and prosody.pid_is_ours(dns_pid, directory / "dns.json"):
        dns = False  # the lab's DNS server outlived its Prosody: keep it as it is
    try:
        return _launch(lab, _server_config(lab, certs), dns, dns_port)
    except LabError as exc:
        raise LabError(
            f"lab '{lab.name}' could not be restarted on its ports {_port_list(lab)}: "
            f"{exc.message}",
            f"'xiot lab down --name {lab.name}' and 'xiot lab up' build a new lab "
            "(new ports, CA and passwords)") from None


def _launch(lab: Lab, cfg: prosody.ServerConfig | ejabberd.ServerConfig, dns: bool,
            dns_port: int | None = None) -> Lab:
    """Start the lab's processes, recording each pid before anything can interrupt.

    Whatever this call started is stopped again if it fails or is interrupted, so no server
    is left running unrecorded.
    """
    started: list[tuple[int, Path]] = []

    def record_server(pid: int) -> None:
        nonlocal lab
        lab = replace(lab, pid=pid)
        started.append((pid, cfg.config_file))
        _save(lab)

    def record_dns(pid: int) -> None:
        nonlocal lab
        lab = replace(lab, dns_pid=pid)
        started.append((pid, Path(lab.directory) / "dns.json"))
        _save(lab)

    try:
        if isinstance(cfg, ejabberd.ServerConfig):
            ejabberd.start(cfg, record_server)
            version = ejabberd.server_version(cfg)
        else:
            cfg.config_file.write_text(prosody.render_config(cfg))
            prosody.start(cfg, record_server)
            version = prosody.server_version(cfg)
        if dns:
            port = _start_dns(Path(lab.directory), lab.domain, lab.host, lab.ports, record_dns,
                              dns_port)
            lab = replace(lab, dns_port=port)
        lab = replace(lab, server_version=version)
        _save(lab)
    except BaseException:
        for pid, marker in reversed(started):
            _stop(pid, marker)
        raise
    return lab


def _stop(pid: int, marker: Path) -> bool:
    """Stop a lab process by pid (an ejabberd node together with the helpers it started)."""
    if marker.name == _CONFIG_NAMES["ejabberd"]:
        return ejabberd.stop(pid, marker)
    return prosody.stop_pid(pid, marker)


def _server_config(lab: Lab, certs: tuple[Path, Path]
                   ) -> prosody.ServerConfig | ejabberd.ServerConfig:
    if lab.server == "ejabberd":
        return ejabberd.ServerConfig(
            directory=Path(lab.directory), name=lab.name, domain=lab.domain, host=lab.host,
            ports=dict(lab.ports), admin_jid=lab.admin_jid, cert=certs[0], key=certs[1])
    return prosody.ServerConfig(
        directory=Path(lab.directory), domain=lab.domain, host=lab.host,
        ports=prosody.Ports.of(lab.ports), admin_jid=lab.admin_jid, cert=certs[0],
        key=certs[1], open=lab.open,
    )


def _save(lab: Lab) -> None:
    """Write ``lab.json`` whole or not at all (an interrupted write must not damage it)."""
    state = Path(lab.directory) / "lab.json"
    partial = state.with_name("lab.json.new")
    partial.write_text(json.dumps(asdict(lab), indent=2))
    os.replace(partial, state)


def _port_list(lab: Lab) -> str:
    return ", ".join(f"{kind} {port}" for kind, port in lab.ports.items())


def down(name: str = "lab", keep: bool = False) -> Lab | None:
    """Stop the lab's server by its pid and remove what ``up`` created.

    Returns the lab that was stopped, or None if there was none.  ``keep`` leaves the
    directory (log, data) in place for a post-mortem.  A lab directory without state (left by
    an interrupted start of an older xiot) still has any server it started stopped.
    """
    lab = load(name)
    directory = lab_dir(name)
    if lab is None:
        markers = [directory / n for n in _CONFIG_NAMES.values()] + [directory / "dns.json"]
        for marker in markers:
            for pid in prosody.processes_using(marker) if directory.exists() else ():
                _stop(pid, marker)
        if directory.exists() and not keep:
            shutil.rmtree(directory)
        return None
    _stop(lab.pid, lab.config_file)
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


def _start_dns(directory: Path, domain: str, host: str, ports: dict[str, int],
               record: Callable[[int], None], port: int | None = None) -> int:
    """Start the lab's DNS server process (on ``port`` if it is free); its port once it answers.

    ``record(pid)`` runs as soon as the process exists, as for the lab's Prosody.
    """
    import sys

    from xiot.lab.dnsd import records_for

    records, port_file = directory / "dns.json", directory / "dns.port"
    records.write_text(json.dumps(records_for(domain, host, ports)))
    port_file.unlink(missing_ok=True)
    argv = [sys.executable, "-m", "xiot.lab.dnsd", str(records), str(port_file)]
    with prosody.interrupts_deferred():
        proc = prosody.spawn_detached(argv + ([str(port)] if port else []), directory,
                                      directory / "dns.console")
        record(proc.pid)
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        if port_file.exists() and port_file.read_text().strip():
            return int(port_file.read_text())
        if proc.poll() is not None:
            break
        time.sleep(0.05)
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
    """A private drop-in profile so that ``xiot --profile NAME`` reaches the lab as admin.

    An open lab's profile says ``tls: none`` (and names no CA): it is the only way to reach
    a server without TLS, and it names the lab's loopback address, as that mode requires.
    """
    import yaml

    admin = next(a for a in accounts(lab) if a.role == "admin")
    host = f"[{lab.host}]" if ":" in lab.host else lab.host
    profile = {"jid": admin.jid, "server": f"{host}:{lab.ports['c2s']}", "tls": lab.tls}
    if not lab.open:
        profile["ca"] = str(lab.ca_file)
    profile["password"] = admin.password
    body = {"profiles": {lab.name: profile}}
    path = lab.profile_file
    path.parent.mkdir(parents=True, exist_ok=True)
    path.touch(mode=0o600)
    path.chmod(0o600)
    path.write_text("# Written by 'xiot lab up'; removed by 'xiot lab down'.\n"
                    + yaml.safe_dump(body, sort_keys=False))
