"""Run a real Prosody as a child process of our own.

The lab never touches the system's Prosody configuration or service: it writes a config of its
own into the lab directory, starts ``prosody --config FILE -F`` detached from the terminal, and
stops it by the pid it recorded.  Everything the server writes (data, log, pid) stays inside the
lab directory.
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import signal
import subprocess
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

from xiot.errors import LabError
from xiot.lab.ports import port_open

INSTALL_HINT = (
    "Install it with 'apt-get install -y prosody' (Debian/Ubuntu); "
    "xiot starts its own instance and never uses the system service"
)

MODULES = (
    "roster", "saslauth", "tls", "dialback", "disco", "ping", "pep", "register",
    "adhoc", "admin_adhoc", "posix", "version", "time", "uptime", "private", "vcard_legacy",
    "blocklist", "carbons", "bosh", "websocket", "http", "lastactivity", "xiot_lab_local",
)

#: A lab server answers for itself and never reaches out to other servers: stanzas to remote
#: domains bounce at once instead of starting an s2s connection (and the DNS look-ups before
#: it), so nothing a lab user types can make the lab talk to a non-loopback address.
LOCAL_ONLY_PLUGIN = """-- Written by xiot lab.
local st = require "util.stanza";
module:hook("route/remote", function (event)
	local stanza = event.stanza;
	local kind = stanza.attr.type;
	if kind ~= "error" and kind ~= "result" then
		module:send(st.error_reply(stanza, "cancel", "remote-server-not-found",
			"this xiot lab server does not connect to other servers"));
	end
	return true;
end, -5);
"""


#: Modules an open lab leaves out: with no TLS module the server offers no STARTTLS, as the
#: throw-away servers of scansion suites do.
OPEN_LAB_WITHOUT = ("tls",)

#: What Prosody 0.12's ``mod_auth_insecure`` insists on before it accepts any password.
INSECURE_CONSENT = "Yes please, I know what I'm doing!"


@dataclass(frozen=True)
class Ports:
    """The loopback ports a lab server listens on (an open lab has no direct TLS port)."""

    c2s: int
    c2s_direct: int | None
    s2s: int
    http: int

    @classmethod
    def of(cls, ports: dict[str, int]) -> Ports:
        """The ports a lab recorded; a missing ``c2s_direct`` is an open lab's."""
        return cls(**{"c2s_direct": None, **ports})

    def as_dict(self) -> dict[str, int]:
        found = {"c2s": self.c2s, "c2s_direct": self.c2s_direct, "s2s": self.s2s,
                 "http": self.http}
        return {kind: port for kind, port in found.items() if port is not None}


@dataclass(frozen=True)
class ServerConfig:
    """Everything needed to render a Prosody config for one lab."""

    directory: Path
    domain: str
    host: str
    ports: Ports
    admin_jid: str
    cert: Path
    key: Path
    #: An open lab: no TLS, plaintext PLAIN, any password for any user (scansion suites).
    open: bool = False

    @property
    def config_file(self) -> Path:
        return self.directory / "prosody.cfg.lua"

    @property
    def data_path(self) -> Path:
        return self.directory / "data"

    @property
    def log_file(self) -> Path:
        return self.directory / "prosody.log"

    @property
    def pid_file(self) -> Path:
        return self.directory / "prosody.pid"


def lua_string(text: str) -> str:
    """Quote ``text`` as a Lua string literal."""
    out = []
    for ch in text:
        if ch in '\\"':
            out.append("\\" + ch)
        elif ord(ch) < 32 or ord(ch) == 127:
            out.append(f"\\{ord(ch):03d}")
        else:
            out.append(ch)
    return '"' + "".join(out) + '"'


def render_config(cfg: ServerConfig) -> str:
    """The Prosody config text for a lab: loopback only, TLS required, no plaintext auth.

    An open lab (``cfg.open``) is the exception scansion suites expect: no TLS at all,
    plaintext PLAIN allowed, and ``mod_auth_insecure`` accepting any password for any user.
    """
    q = lua_string
    modules = ", ".join(q(m) for m in MODULES if not (cfg.open and m in OPEN_LAB_WITHOUT))
    ssl = f"{{ certificate = {q(str(cfg.cert))}; key = {q(str(cfg.key))}; }}"
    text = f"""-- Written by xiot lab; edits are lost on the next 'xiot lab up'.
run_as_root = true
daemonize = false
pidfile = {q(str(cfg.pid_file))}
data_path = {q(str(cfg.data_path))}
log = {{ {{ levels = {{ min = "info" }}, to = "file", filename = {q(str(cfg.log_file))} }} }}
plugin_paths = {{ {q(str(cfg.directory / "plugins"))} }}
-- Small stanzas written back to back (an iq result, then a fields message) would otherwise wait
-- for the peer's delayed ACK: about 40 ms per exchange on loopback.
network_settings = {{ nagle = false }}

interfaces = {{ {q(cfg.host)} }}
local_interfaces = {{ {q(cfg.host)} }}
c2s_ports = {{ {cfg.ports.c2s} }}
c2s_direct_tls_ports = {{ {cfg.ports.c2s_direct} }}
legacy_ssl_ports = {{}}
s2s_ports = {{ {cfg.ports.s2s} }}
http_ports = {{ {cfg.ports.http} }}
http_interfaces = {{ {q(cfg.host)} }}
https_ports = {{}}
http_host = {q(cfg.domain)}
consider_bosh_secure = true
consider_websocket_secure = true

admins = {{ {q(cfg.admin_jid)} }}
modules_enabled = {{ {modules} }}
modules_disabled = {{ "offline", "s2s_bidi", "limits" }}

authentication = "internal_hashed"
default_iteration_count = 4096
storage = "internal"
allow_registration = true
min_seconds_between_registrations = 0
c2s_require_encryption = true
s2s_require_encryption = true
s2s_secure_auth = false
allow_unencrypted_plain_auth = false
certificates = {q(str(cfg.directory / "certs"))}
ssl = {ssl}
c2s_direct_tls_ssl = {ssl}
pep_max_items = 256

VirtualHost {q(cfg.domain)}
    ssl = {ssl}

Component {q("pubsub." + cfg.domain)} "pubsub"
    ssl = {ssl}
    pubsub_max_items = 256
    autocreate_on_publish = false

Component {q("conference." + cfg.domain)} "muc"
    ssl = {ssl}
"""
    return _opened(text, cfg) if cfg.open else text


def _opened(text: str, cfg: ServerConfig) -> str:
    """The lab's config without TLS and with open authentication: every certificate line
    dropped, the security settings replaced."""
    q = lua_string
    replaced = {
        "c2s_direct_tls_ports": "c2s_direct_tls_ports = {}",
        "authentication": f'authentication = "insecure"\n'
                          f"insecure_open_authentication = {q(INSECURE_CONSENT)}",
        "c2s_require_encryption": "c2s_require_encryption = false",
        "s2s_require_encryption": "s2s_require_encryption = false",
        "allow_unencrypted_plain_auth": "allow_unencrypted_plain_auth = true",
        # What the suites' own test servers run: offline delivery and an archive, a version
        # answer without the OS, and nothing kept from one start to the next.
        "modules_disabled": 'modules_disabled = { "s2s_bidi", "limits" }',
        "storage": 'storage = "memory"\nhide_os_type = true',
        "autocreate_on_publish": "    autocreate_on_publish = false\n"
                                    "    expose_publisher = true",
    }
    dropped = ("ssl", "c2s_direct_tls_ssl", "certificates")
    out = ["-- An OPEN lab: no TLS, plaintext authentication, ANY password accepted for ANY "
           "user.", "-- For test suites on this machine only (xiot lab up --open)."]
    for line in text.splitlines():
        key = line.strip().split(" =", 1)[0]
        if key in dropped:
            continue
        if key == "modules_enabled":
            line = line.replace(" }", ', "offline", "mam" }')
        out.append(replaced.get(key, line))
    return "\n".join(out) + "\n"


def write_plugins(cfg: ServerConfig) -> None:
    """The lab's own Prosody modules, next to its config."""
    folder = cfg.directory / "plugins"
    folder.mkdir(exist_ok=True)
    (folder / "mod_xiot_lab_local.lua").write_text(LOCAL_ONLY_PLUGIN)


def find_prosody() -> tuple[str, str]:
    """Paths of ``prosody`` and ``prosodyctl``; a LabError saying how to install them if absent.

    ``XIOT_PROSODY`` names another build (a newer release, a source checkout) to run instead.
    """
    override = os.environ.get("XIOT_PROSODY")
    if override:
        prosody = override if os.access(override, os.X_OK) else None
        ctl = os.path.join(os.path.dirname(override), "prosodyctl")
        prosodyctl = ctl if os.access(ctl, os.X_OK) else None
        if not prosody or not prosodyctl:
            raise LabError(f"XIOT_PROSODY={override} is not an executable prosody next to "
                           "a prosodyctl", "Point it at a Prosody installation, or unset it")
        return prosody, prosodyctl
    prosody = shutil.which("prosody") or _existing("/usr/bin/prosody")
    prosodyctl = shutil.which("prosodyctl") or _existing("/usr/bin/prosodyctl")
    if not prosody or not prosodyctl:
        raise LabError("Prosody is not installed", INSTALL_HINT)
    return prosody, prosodyctl


def _existing(path: str) -> str | None:
    return path if os.path.exists(path) else None


#: ``Prosody 0.12.3``, ``Prosody 13.0.1``, ``Prosody hg:1a2b3c4d``, ``Prosody trunk nightly
#: build 1234 (...)``: the line ``prosodyctl about`` prints first when nothing goes wrong.
_VERSION_LINE = re.compile(r"^Prosody\s+((?:\d+(?:\.\d+)+|hg:[0-9a-f]+|trunk)(?:[\s+~-].*)?)$")


def parse_version(about: str) -> str | None:
    """The version in ``prosodyctl about`` output, or None when no line states one.

    The version line is not always the first: without ``lua-unbound`` Prosody first prints a
    banner ("Prosody was unable to find lua-unbound ..."), and a word of that sentence is not a
    version.  Only a line that is exactly ``Prosody <version>`` counts.
    """
    for line in about.splitlines():
        match = _VERSION_LINE.match(line.strip())
        if match:
            return match.group(1).strip()
    return None


def server_version(cfg: ServerConfig) -> str:
    """The Prosody version, read with ``prosodyctl about`` (``prosody`` has no version flag).

    ``"unknown"`` when it cannot be read: the version is shown to people, never relied on.
    """
    _, prosodyctl = find_prosody()
    try:
        done = subprocess.run(
            [prosodyctl, "--config", str(cfg.config_file), "about"],
            capture_output=True, text=True, timeout=20, check=False,
        )
    except (OSError, subprocess.TimeoutExpired):
        return "unknown"
    return parse_version(done.stdout) or parse_version(done.stderr) or "unknown"


@contextlib.contextmanager
def interrupts_deferred() -> Iterator[None]:
    """Hold back Ctrl-C (SIGINT) until the block ends, then raise it as usual.

    Starting a lab process and recording its pid must happen together: a Ctrl-C between the
    two would leave a server running that no lab state knows about.  A Python-level handler
    (not a blocked signal mask, which children would inherit) keeps the child's own handling
    of SIGINT intact.  Outside the main thread there is no SIGINT to defer.
    """
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    pending: list[object] = []
    previous = signal.signal(signal.SIGINT, lambda signum, frame: pending.append(signum))
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)
    if pending:
        raise KeyboardInterrupt


def spawn_detached(argv: list[str], directory: Path, console: Path,
                   env: dict[str, str] | None = None) -> subprocess.Popen[bytes]:
    """Start a lab process in a session of its own, its output appended to ``console``.

    Its own session means a Ctrl-C in the terminal that ran ``xiot lab up`` does not take the
    lab down with it; the lab stops it by pid.
    """
    with console.open("ab") as out:
        return subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=out,
                                stderr=subprocess.STDOUT, cwd=directory,
                                start_new_session=True, env=env)


def start(cfg: ServerConfig, record: Callable[[int], None], wait: float = 20.0) -> int:
    """Start Prosody detached and wait until it accepts connections; returns its pid.

    ``record(pid)`` runs as soon as the process exists, before anything Ctrl-C can interrupt,
    so the caller's lab state always knows the server.  If the wait ends in any other way
    than a ready server (an error, a timeout, Ctrl-C) the server is stopped again.
    """
    prosody, _ = find_prosody()
    write_plugins(cfg)
    console = cfg.directory / "prosody.console"
    with interrupts_deferred():
        proc = spawn_detached([prosody, "--config", str(cfg.config_file), "-F"],
                              cfg.directory, console)
        record(proc.pid)
    try:
        _wait_ready(cfg, proc, wait)
    except BaseException:
        stop_pid(proc.pid, cfg.config_file)
        raise
    return proc.pid


def _wait_ready(cfg: ServerConfig, proc: subprocess.Popen[bytes], wait: float) -> None:
    deadline = time.monotonic() + wait
    ports = tuple(cfg.ports.as_dict().values())
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise LabError(
                f"Prosody exited at start-up with status {proc.returncode}: {_last_words(cfg)}",
                f"See {cfg.log_file} and {cfg.directory / 'prosody.console'}",
            )
        if all(port_open(cfg.host, p) for p in ports):
            return
        time.sleep(0.05)
    raise LabError(
        f"Prosody did not open its ports within {wait:.0f}s: {_last_words(cfg)}",
        f"See {cfg.log_file}",
    )


def _last_words(cfg: ServerConfig) -> str:
    """The most telling line of what the server printed, for the error message."""
    lines: list[str] = []
    for path in (cfg.directory / "prosody.console", cfg.log_file):
        with contextlib.suppress(OSError):
            lines += path.read_text(errors="replace").splitlines()
    for line in reversed(lines):
        if "error" in line.lower() or "refusing" in line.lower():
            return line.strip()[:300]
    return lines[-1].strip()[:300] if lines else "no output"


def pid_is_ours(pid: int, config_file: Path) -> bool:
    """True when ``pid`` is alive and is the Prosody started with ``config_file``.

    Checking the command line guards against killing an unrelated process that reused the pid.
    """
    try:
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
    except OSError:
        return False
    return str(config_file).encode() in cmdline


def processes_using(marker: Path) -> list[int]:
    """Pids of live processes whose command line names ``marker`` (a lab's config file).

    Lets ``lab down`` find a lab's server even when no state records it (a lab left by an
    interrupted start of an older xiot).
    """
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit() and pid_is_ours(int(entry.name), marker) \
                and not _is_zombie(int(entry.name)):
            found.append(int(entry.name))
    return found


def stop_pid(pid: int, config_file: Path, wait: float = 10.0) -> bool:
    """Stop the lab server by pid: SIGTERM, then SIGKILL if it lingers.  False if not running."""
    if not pid_is_ours(pid, config_file):
        return False
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + wait
    while time.monotonic() < deadline:
        _reap(pid)
        if not pid_is_ours(pid, config_file) or _is_zombie(pid):
            _reap(pid)
            return True
        time.sleep(0.05)
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGKILL)
    _reap(pid)
    return True


def _reap(pid: int) -> None:
    """Collect the exit status if the server is our direct child (it is when started here)."""
    with contextlib.suppress(ChildProcessError, OSError):
        os.waitpid(pid, os.WNOHANG)


def _is_zombie(pid: int) -> bool:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return True
    return stat.rsplit(")", 1)[-1].split()[0] == "Z"
