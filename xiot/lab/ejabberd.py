"""Run Debian's ejabberd as an Erlang node of our own, the second lab server.

``ejabberdctl`` cannot be used: run as root it switches to the ``ejabberd`` user, reads
``/etc/ejabberd`` and ``/var/lib/ejabberd`` and talks to the system ``epmd`` on port 4369.  The
lab starts ``erl`` itself with the environment ``ejabberdctl`` would export, every path pointed
into the lab directory: a private cookie in a private ``HOME``, distribution on a loopback port
of the lab's own with no epmd, host look-ups from files only (``ERL_INETRC``) and no ACME.

Accounts and rosters are created inside the node as it starts: an ``-eval`` after ``-s
ejabberd`` reads a term file the lab wrote (accounts, roster items) and calls ejabberd's own
registration and roster functions, then writes a ``ready`` file with the server version.  That
is about half a second for a thousand devices, where in-band registration would take a round
trip (and throttling) per account.
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import signal
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

from xiot.errors import LabError
from xiot.lab.accounts import Account
from xiot.lab.ports import port_open
from xiot.lab.prosody import interrupts_deferred, pid_is_ours, spawn_detached, stop_pid

INSTALL_HINT = (
    "Install it with 'apt-get install -y ejabberd' (Debian/Ubuntu), then "
    "'systemctl disable --now ejabberd' if it started; xiot runs its own node and never uses "
    "the system service, its config or epmd"
)

#: Listeners of an ejabberd lab; ``dist`` is the Erlang distribution port (instead of epmd).
PORT_KINDS = ("c2s", "c2s_direct", "s2s", "http", "dist")

_CTL = "/usr/sbin/ejabberdctl"


@dataclass(frozen=True)
class Installation:
    """Where Debian put the Erlang runtime and ejabberd's applications."""

    erl: str
    erl_libs: str


@dataclass(frozen=True)
class ServerConfig:
    """Everything needed to render an ejabberd config and start its node for one lab."""

    directory: Path
    name: str
    domain: str
    host: str
    ports: dict[str, int]
    admin_jid: str
    cert: Path
    key: Path

    @property
    def config_file(self) -> Path:
        return self.directory / "ejabberd.yml"

    @property
    def database(self) -> Path:
        return self.directory / "db"

    @property
    def log_file(self) -> Path:
        return self.directory / "log" / "ejabberd.log"

    @property
    def console(self) -> Path:
        return self.directory / "ejabberd.console"

    @property
    def provision_file(self) -> Path:
        return self.directory / "provision.eterm"

    @property
    def ready_file(self) -> Path:
        return self.directory / "ready"

    @property
    def node(self) -> str:
        return f"xiot_{self.name}@localhost"


def find_ejabberd() -> Installation:
    """The ``erl`` and ``ERL_LIBS`` ejabberdctl would use; a LabError saying how to install.

    ``XIOT_EJABBERD_LIBS`` names another directory holding an ``ejabberd-*`` application.
    """
    libs = os.environ.get("XIOT_EJABBERD_LIBS") or _ctl_setting("ERL_LIBS")
    erl = _ctl_setting("ERL") or shutil.which("erl") or "/usr/bin/erl"
    candidates = [libs] if libs else [str(p.parent.parent.parent) for p in
                                      Path("/usr/lib").glob("*/ejabberd-*/ebin/ejabberd.app")]
    for folder in candidates:
        if folder and any(Path(folder).glob("ejabberd-*/ebin/ejabberd.app")) \
                and os.access(erl, os.X_OK):
            return Installation(erl=erl, erl_libs=folder)
    raise LabError("ejabberd is not installed", INSTALL_HINT)


def _ctl_setting(name: str) -> str | None:
    """A ``NAME=value`` line of Debian's ejabberdctl script (where it keeps ERL and ERL_LIBS)."""
    try:
        text = Path(_CTL).read_text(errors="replace")
    except OSError:
        return None
    match = re.search(rf"^{name}=['\"]?([^'\"\n]+)['\"]?\s*$", text, re.MULTILINE)
    return match.group(1) if match else None


def erlang_string(text: str) -> str:
    """``text`` as an Erlang string literal (file:consult and -eval read it back exactly)."""
    out = []
    for ch in text:
        if ch in '\\"':
            out.append("\\" + ch)
        elif 32 <= ord(ch) < 127:
            out.append(ch)
        else:
            out.append(f"\\x{{{ord(ch):x}}}")
    return '"' + "".join(out) + '"'


def render_config(cfg: ServerConfig) -> str:
    """The ejabberd.yml of a lab: loopback only, TLS required, no s2s, no ACME."""
    import yaml

    host, ports = cfg.host, cfg.ports
    c2s = {"ip": host, "module": "ejabberd_c2s", "max_stanza_size": 1048576,
           "access": "c2s"}
    http_base = f"http://{host}:{ports['http']}"
    body = {
        "hosts": [cfg.domain],
        "loglevel": "info",
        "log_rotate_count": 0,
        "hide_sensitive_log_data": True,
        "certfiles": [str(cfg.cert), str(cfg.key)],
        "acme": {"auto": False},
        "listen": [
            c2s | {"port": ports["c2s"], "starttls_required": True},
            c2s | {"port": ports["c2s_direct"], "tls": True},
            {"port": ports["s2s"], "ip": host, "module": "ejabberd_s2s_in"},
            {"port": ports["http"], "ip": host, "module": "ejabberd_http",
             "request_handlers": {"/bosh": "mod_bosh", "/ws": "ejabberd_http_ws",
                                  "/.well-known/host-meta": "mod_host_meta",
                                  "/.well-known/host-meta.json": "mod_host_meta"}},
        ],
        # A lab answers for itself only: no server-to-server traffic in or out.
        "s2s_access": "none",
        "auth_method": "internal",
        # Stored as given, so that every SCRAM variant (and -PLUS) can be offered.
        "auth_password_format": "plain",
        "disable_sasl_mechanisms": ["digest-md5", "X-OAUTH2"],
        "acl": {"admin": {"user": [cfg.admin_jid]}, "local": {"user_regexp": ""},
                "loopback": {"ip": ["127.0.0.0/8", "::1/128"]}},
        "access_rules": {"local": {"allow": "local"}, "c2s": {"allow": "all"},
                         "configure": {"allow": "admin"},
                         "pubsub_createnode": {"allow": "local"},
                         "register": {"allow": "all"},
                         "trusted_network": {"allow": "loopback"}},
        "shaper_rules": {"max_user_sessions": 1000},
        "modules": {
            "mod_adhoc": {}, "mod_caps": {}, "mod_disco": {}, "mod_ping": {},
            "mod_roster": {}, "mod_stream_mgmt": {}, "mod_version": {},
            "mod_time": {}, "mod_last": {}, "mod_private": {}, "mod_vcard": {},
            "mod_privacy": {}, "mod_blocking": {}, "mod_carboncopy": {}, "mod_configure": {},
            "mod_bosh": {}, "mod_client_state": {},
            "mod_host_meta": {"bosh_service_url": f"{http_base}/bosh",
                              "websocket_url": f"ws://{host}:{ports['http']}/ws"},
            "mod_register": {"ip_access": "trusted_network", "access": "register"},
            "mod_pubsub": {"access_createnode": "pubsub_createnode",
                           "plugins": ["flat", "pep"], "max_items_node": 1000},
        },
    }
    return ("# Written by xiot lab; edits are lost on the next 'xiot lab up'.\n"
            + yaml.safe_dump(body, sort_keys=False))


def write_provisioning(cfg: ServerConfig, accounts: Iterable[Account]) -> None:
    """The term file the node reads at its first start: accounts, then mutual rosters.

    It holds passwords, so it is private, and the node deletes it once it has been applied.
    """
    accounts = list(accounts)
    admin = next(a for a in accounts if a.role == "admin")
    lines = [f"{{host, {erlang_string(cfg.domain)}}}."]
    for account in accounts:
        lines.append(f"{{account, {erlang_string(account.user)}, "
                     f"{erlang_string(account.password)}}}.")
    for device in (a for a in accounts if a.role != "admin"):
        lines.append(_roster_term(admin.user, device.user, "devices"))
        lines.append(_roster_term(device.user, admin.user, "operators"))
    cfg.provision_file.touch(mode=0o600)
    cfg.provision_file.write_text("\n".join(lines) + "\n")


def _roster_term(owner: str, contact: str, group: str) -> str:
    q = erlang_string
    return f"{{roster, {q(owner)}, {q(contact)}, {q(contact)}, {q(group)}}}."


def _start_expression(cfg: ServerConfig) -> str:
    """Erlang run in the node once ejabberd has started: provision, then say it is ready."""
    q = erlang_string
    return (
        "XiotLab = fun() -> "
        "B = fun(S) -> unicode:characters_to_binary(S) end, "
        "Apply = fun(Host, {account, U, P}) -> "
        "case ejabberd_auth:try_register(B(U), Host, B(P)) of ok -> ok; "
        "{error, exists} -> ok; E -> throw({register, U, E}) end; "
        "(Host, {roster, O, C, N, G}) -> ok = mod_admin_extra:add_rosteritem("
        "B(O), Host, B(C), Host, B(N), B(G), <<\"both\">>) end, "
        f"Result = try case file:consult({q(str(cfg.provision_file))}) of "
        "{ok, [{host, H} | Items]} -> Host = B(H), "
        "lists:foreach(fun(I) -> Apply(Host, I) end, Items), "
        f"file:delete({q(str(cfg.provision_file))}), ok; "
        "{error, enoent} -> ok; Other -> Other end "
        "catch Class:Why -> {Class, Why} end, "
        "{ok, Vsn} = application:get_key(ejabberd, vsn), "
        f"ok = file:write_file({q(str(cfg.ready_file) + '.new')}, "
        "io_lib:format(\"~s~n~0p~n\", [Vsn, Result])), "
        f"file:rename({q(str(cfg.ready_file) + '.new')}, {q(str(cfg.ready_file))}) "
        "end, XiotLab()."
    )


def _environment(cfg: ServerConfig, install: Installation) -> dict[str, str]:
    home = cfg.directory / "erlang"
    env = {k: v for k, v in os.environ.items() if not k.startswith(("ERL_", "EJABBERD_"))}
    env.update({
        "HOME": str(home),
        "EJABBERD_CONFIG_PATH": str(cfg.config_file),
        "EJABBERD_LOG_PATH": str(cfg.log_file),
        "EJABBERD_PID_PATH": str(cfg.directory / "ejabberd.pid"),
        "ERL_LIBS": install.erl_libs,
        "ERL_INETRC": str(cfg.directory / "inetrc"),
        "ERL_CRASH_DUMP_BYTES": "0",
        "ERL_MAX_PORTS": "65536",
        "CONTRIB_MODULES_PATH": str(cfg.directory / "modules"),
    })
    return env


def _prepare(cfg: ServerConfig) -> None:
    """The node's private files: cookie, resolver rules, log and database folders."""
    import secrets

    home = cfg.directory / "erlang"
    home.mkdir(mode=0o700, exist_ok=True)
    cookie = home / ".erlang.cookie"
    if not cookie.exists():
        cookie.touch(mode=0o600)
        cookie.write_text(secrets.token_hex(20))
        cookie.chmod(0o400)
    # Look names up in files only: the node never asks an outside resolver.
    (cfg.directory / "inetrc").write_text(
        '{lookup, ["file"]}.\n{host, {127,0,0,1}, ["localhost"]}.\n')
    (cfg.directory / "log").mkdir(exist_ok=True)
    cfg.config_file.write_text(render_config(cfg))
    cfg.ready_file.unlink(missing_ok=True)


def argv(cfg: ServerConfig, install: Installation) -> list[str]:
    """The ``erl`` command line; it names the config file so the lab can recognise its pid."""
    return [
        install.erl, "-sname", cfg.node, "-start_epmd", "false",
        "-erl_epmd_port", str(cfg.ports["dist"]),
        "-kernel", "inet_dist_use_interface", "{127,0,0,1}",
        "-noinput", "-noshell", "+P", "250000",
        "-mnesia", "dir", erlang_string(str(cfg.database)),
        "-xiot_lab_config", str(cfg.config_file),
        "-s", "ejabberd", "-eval", _start_expression(cfg),
    ]


def start(cfg: ServerConfig, record: Callable[[int], None], wait: float = 60.0) -> int:
    """Start the node detached and wait until it has provisioned and opened its ports.

    ``record(pid)`` runs as soon as the process exists (``erl`` execs into the emulator, so
    the pid is the node's); anything but a ready server stops it again.
    """
    install = find_ejabberd()
    _prepare(cfg)
    with interrupts_deferred():
        proc = spawn_detached(argv(cfg, install), cfg.directory, cfg.console,
                              env=_environment(cfg, install))
        record(proc.pid)
    try:
        _wait_ready(cfg, proc, wait)
    except BaseException:
        stop(proc.pid, cfg.config_file)
        raise
    return proc.pid


def _wait_ready(cfg: ServerConfig, proc, wait: float) -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + wait
    listeners = [port for kind, port in cfg.ports.items() if kind != "dist"]
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise LabError(f"ejabberd exited at start-up with status {proc.returncode}: "
                           f"{_last_words(cfg)}", f"See {cfg.log_file} and {cfg.console}")
        if cfg.ready_file.exists():
            outcome = cfg.ready_file.read_text().splitlines()[1:2]
            if outcome != ["ok"]:
                raise LabError(f"ejabberd could not create the lab accounts: "
                               f"{' '.join(outcome)[:300]}", f"See {cfg.log_file}")
            if all(port_open(cfg.host, p) for p in listeners):
                return
        time.sleep(0.05)
    raise LabError(f"ejabberd was not ready within {wait:.0f}s: {_last_words(cfg)}",
                   f"See {cfg.log_file}")


def server_version(cfg: ServerConfig) -> str:
    """The version the node reported when it was ready (``unknown`` if it did not say)."""
    try:
        first = cfg.ready_file.read_text().splitlines()[0].strip()
    except (OSError, IndexError):
        return "unknown"
    return first or "unknown"


def _last_words(cfg: ServerConfig) -> str:
    lines: list[str] = []
    for path in (cfg.console, cfg.log_file):
        with contextlib.suppress(OSError):
            lines += path.read_text(errors="replace").splitlines()
    for line in reversed(lines):
        if "[error]" in line or "[critical]" in line or "rror" in line:
            return line.strip()[:300]
    return lines[-1].strip()[:300] if lines else "no output"


def stop(pid: int, config_file: Path, wait: float = 15.0) -> bool:
    """Stop the node by pid, then whatever it started (port programs) if any outlived it.

    The node runs in a session of its own (``spawn_detached``), so its helpers share its
    process group; only members of that group whose command lines we can still see are
    signalled, never anything by name.
    """
    group = _group_members(pid) if pid_is_ours(pid, config_file) else []
    stopped = stop_pid(pid, config_file, wait)
    for member in group:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            if os.getpgid(member) == pid:
                os.kill(member, signal.SIGKILL)
    return stopped


def _group_members(leader: int) -> list[int]:
    members = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit() and int(entry.name) != leader:
            with contextlib.suppress(OSError):
                if os.getpgid(int(entry.name)) == leader:
                    members.append(int(entry.name))
    return members
