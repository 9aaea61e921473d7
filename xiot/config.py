"""Profiles, environment variables and credential lookup.

Precedence is flags > ``XIOT_*`` environment > profile > defaults, resolved once per command
into a frozen ``Settings``.  The password is not part of ``Settings``: it is fetched only when a
session actually authenticates, so ``config show`` and ``--help`` never run a password command,
and a secret never sits in an object that might be printed.
"""

from __future__ import annotations

import getpass
import logging
import os
import shlex
import stat
import subprocess
import sys
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Literal

from xiot.errors import ConfigError, UsageError, XiotError

log = logging.getLogger("xiot")

TlsMode = Literal["auto", "starttls", "direct"]
TLS_MODES: tuple[str, ...] = ("auto", "starttls", "direct")
OUTPUT_FORMATS: tuple[str, ...] = ("table", "json", "ndjson", "csv", "nagios", "openmetrics")
DEFAULT_TIMEOUT = 10.0
PROFILE_KEYS = {
    "jid", "server", "port", "tls", "ca", "insecure", "timeout",
    "password", "password_cmd", "password_env",
}


def config_dir() -> Path:
    """``$XDG_CONFIG_HOME/xiot`` (``~/.config/xiot`` when unset)."""
    base = os.environ.get("XDG_CONFIG_HOME") or str(Path.home() / ".config")
    return Path(base) / "xiot"


def state_dir() -> Path:
    """``$XDG_STATE_HOME/xiot`` (``~/.local/state/xiot`` when unset): where labs live."""
    base = os.environ.get("XDG_STATE_HOME") or str(Path.home() / ".local" / "state")
    return Path(base) / "xiot"


@dataclass(frozen=True)
class GlobalOptions:
    """The root command's options exactly as given on the command line (None = not given)."""

    profile: str | None = None
    config: Path | None = None
    jid: str | None = None
    server: str | None = None
    tls: str | None = None
    ca: Path | None = None
    insecure: bool | None = None
    timeout: float | None = None
    output: str | None = None
    no_color: bool = False
    verbose: int = 0
    debug: bool = False


@dataclass(frozen=True)
class Credential:
    """Where the password comes from; never the password itself unless from a private file."""

    source: Literal["env", "cmd", "file", "prompt", "none"]
    detail: str = ""
    origin: str = ""
    secret: str | None = field(default=None, repr=False)

    def describe(self) -> str:
        """Safe to print: names the source, never the value."""
        if self.source == "file":
            return f"password key in {self.origin} (hidden)"
        if self.source == "cmd":
            return f"password_cmd: {self.detail}"
        if self.source == "env":
            return f"environment variable {self.detail}"
        if self.source == "prompt":
            return "prompt on the terminal"
        return "none"


@dataclass(frozen=True)
class Settings:
    """Resolved connection settings for one command run."""

    profile: str | None
    config_files: tuple[Path, ...]
    jid: str | None
    host: str | None
    port: int | None
    tls: TlsMode
    ca: Path | None
    insecure: bool
    timeout: float
    output: str | None
    no_color: bool
    verbose: int
    debug: bool
    credential: Credential = field(default_factory=lambda: Credential("none"))
    sources: dict[str, str] = field(default_factory=dict, compare=False)

    def with_jid(self, jid: str) -> Settings:
        return replace(self, jid=jid)

    def to_record(self) -> dict[str, Any]:
        """The settings as data for ``config show``: every value printable, no secret."""
        return {
            "profile": self.profile,
            "jid": self.jid,
            "server": self.host,
            "port": self.port,
            "tls": self.tls,
            "ca": str(self.ca) if self.ca else None,
            "insecure": self.insecure,
            "timeout": self.timeout,
            "output": self.output,
            "password": self.credential.describe(),
            "config_files": [str(p) for p in self.config_files],
        }


# --------------------------------------------------------------------------- config files


@dataclass(frozen=True)
class ConfigFile:
    """One parsed YAML file: its profiles and whether others may read it."""

    path: Path
    profiles: dict[str, dict[str, Any]]
    default_profile: str | None
    private: bool


def default_config_path() -> Path:
    return config_dir() / "config.yaml"


def config_paths(explicit: Path | None) -> list[Path]:
    """The files to read: an explicit file alone, or config.yaml plus ``config.d/*.yaml``.

    ``config.d`` is where ``xiot lab up`` drops the lab profile, so that xiot never rewrites
    (and loses the comments of) a user's own config.yaml.
    """
    if explicit is not None:
        if not explicit.is_file():
            raise ConfigError(
                f"config file {explicit} does not exist",
                "Check --config / XIOT_CONFIG, or create the file",
            )
        return [explicit]
    paths = []
    main = default_config_path()
    if main.is_file():
        paths.append(main)
    drop_in = main.parent / "config.d"
    if drop_in.is_dir():
        paths += sorted(p for p in drop_in.glob("*.yaml") if p.is_file())
    return paths


def read_config_file(path: Path) -> ConfigFile:
    import yaml  # deferred: only commands that resolve settings pay for it

    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}" if mark else ""
        raise ConfigError(f"{path}: invalid YAML{where}", "Fix the file's syntax") from None
    except OSError as exc:
        raise ConfigError(f"cannot read {path}: {exc.strerror}") from None
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: expected a mapping at the top level", "See the README")
    profiles = data.get("profiles") or {}
    if not isinstance(profiles, dict) or not all(isinstance(v, dict) for v in profiles.values()):
        raise ConfigError(f"{path}: 'profiles' must map names to mappings", "See the README")
    for name, body in profiles.items():
        unknown = set(body) - PROFILE_KEYS
        if unknown:
            raise ConfigError(
                f"{path}: profile '{name}' has unknown key(s): {', '.join(sorted(unknown))}",
                f"Known keys: {', '.join(sorted(PROFILE_KEYS))}",
            )
        _check_profile_types(path, str(name), body)
    mode = path.stat().st_mode
    private = not (mode & (stat.S_IRGRP | stat.S_IROTH | stat.S_IWGRP | stat.S_IWOTH))
    default = data.get("default_profile")
    return ConfigFile(path, {str(k): v for k, v in profiles.items()}, default, private)


#: What each profile key must hold; YAML gives "false" and false different types, and a
#: quoted "false" for ``insecure`` must never switch verification off.
PROFILE_TYPES: dict[str, tuple[type, ...]] = {
    "jid": (str,), "server": (str,), "port": (int,), "tls": (str,), "ca": (str,),
    "insecure": (bool,), "timeout": (int, float), "password": (str,),
    "password_cmd": (str,), "password_env": (str,),
}
_TYPE_WORDS = {str: "text", int: "a whole number", float: "a number", bool: "true or false"}


def _check_profile_types(path: Path, name: str, body: dict[str, Any]) -> None:
    for key, value in body.items():
        expected = PROFILE_TYPES[key]
        if value is None:
            continue
        wrong = not isinstance(value, expected) or (bool not in expected
                                                    and isinstance(value, bool))
        if wrong:
            words = " or ".join(_TYPE_WORDS[t] for t in expected)
            raise ConfigError(
                f"{path}: profile '{name}': '{key}' must be {words}, got {value!r}",
                "Fix the value in the file (quote nothing for true/false and numbers)",
            )


def read_all(explicit: Path | None = None) -> list[ConfigFile]:
    """Every config file, parsed once per command (they are read on every start)."""
    return [read_config_file(path) for path in config_paths(explicit)]


def load_profiles(files: list[ConfigFile]) -> dict[str, tuple[dict[str, Any], ConfigFile]]:
    """Every profile by name, with the file it came from (later files win)."""
    found: dict[str, tuple[dict[str, Any], ConfigFile]] = {}
    for cfg in files:
        for name, body in cfg.profiles.items():
            found[name] = (body, cfg)
    return found


def _default_profile_name(files: list[ConfigFile]) -> str | None:
    """The last file's ``default_profile`` wins, like its profiles do."""
    for cfg in reversed(files):
        if cfg.default_profile:
            return str(cfg.default_profile)
    return None


# --------------------------------------------------------------------------- resolution


def parse_server(text: str) -> tuple[str, int | None]:
    """``host``, ``host:port``, ``[v6]:port`` -> (host, port)."""
    text = text.strip()
    if not text:
        raise UsageError("empty server address", "Give host or host:port, e.g. 127.0.0.1:5222")
    if text.startswith("["):
        host, sep, rest = text[1:].partition("]")
        if not sep:
            raise UsageError(f"malformed server address '{text}'", "Write IPv6 as [::1]:5222")
        port_text = rest[1:] if rest.startswith(":") else ""
    elif text.count(":") == 1:
        host, _, port_text = text.partition(":")
    else:
        host, port_text = text, ""
    if not port_text:
        return host, None
    if not port_text.isdigit() or not 0 < int(port_text) < 65536:
        raise UsageError(f"bad port in '{text}'", "The port must be 1-65535")
    return host, int(port_text)


def _env(name: str) -> str | None:
    value = os.environ.get(f"XIOT_{name}")
    return value if value not in (None, "") else None


def _env_bool(name: str) -> bool | None:
    value = _env(name)
    if value is None:
        return None
    return value.lower() in ("1", "true", "yes", "on")


def explicit_config(opts: GlobalOptions) -> Path | None:
    """The config file named by ``--config`` or ``XIOT_CONFIG``, if any."""
    env_config = _env("CONFIG")
    return opts.config or (Path(env_config).expanduser() if env_config else None)


def resolve(opts: GlobalOptions) -> Settings:
    """Merge flags, environment, profile and defaults into ``Settings``."""
    files = read_all(explicit_config(opts))
    profiles = load_profiles(files)
    profile_name = opts.profile or _env("PROFILE") or _default_profile_name(files)
    profile: dict[str, Any] = {}
    origin: ConfigFile | None = None
    if profile_name is not None:
        if profile_name not in profiles:
            known = ", ".join(sorted(profiles)) or "none defined"
            raise ConfigError(
                f"unknown profile '{profile_name}' (known: {known})",
                "Run 'xiot config profiles', or 'xiot lab up' to create the 'lab' profile",
            )
        profile, origin = profiles[profile_name]

    sources: dict[str, str] = {}

    def pick(key: str, flag: Any, env: Any, default: Any) -> Any:
        for source, value in (("flag", flag), ("env", env), ("profile", profile.get(key))):
            if value is not None:
                sources[key] = source
                return value
        sources[key] = "default"
        return default

    def checked(key: str, convert: Any, value: Any) -> Any:
        """Convert a value, naming where a bad one came from (flag: exit 2, else exit 3)."""
        try:
            return convert(value)
        except (UsageError, ConfigError) as exc:
            raise _from_source(exc, key, sources.get(key, "default"), profile_name,
                               origin) from None

    jid = pick("jid", opts.jid, _env("JID"), None)
    if jid is not None:
        jid = checked("jid", _valid_jid, str(jid))
    server = pick("server", opts.server, _env("SERVER"), None)
    host, port = checked("server", parse_server, str(server)) if server else (None, None)
    if port is None and profile.get("port") is not None and sources.get("server") != "flag":
        port = _as_port(profile["port"], origin)
    tls = checked("tls", _tls_mode, str(pick("tls", opts.tls, _env("TLS"), "auto")))
    ca_value = pick("ca", opts.ca, _env("CA"), None)
    ca = checked("ca", _check_ca, Path(str(ca_value)).expanduser()) if ca_value else None
    insecure = bool(pick("insecure", opts.insecure, _env_bool("INSECURE"), False))
    timeout = checked("timeout", _as_timeout,
                      pick("timeout", opts.timeout, _env("TIMEOUT"), DEFAULT_TIMEOUT))
    output = pick("output", opts.output, _env("OUTPUT"), None)
    if output is not None and output not in OUTPUT_FORMATS:
        raise UsageError(f"unknown output format '{output}'", f"Use {', '.join(OUTPUT_FORMATS)}")
    no_color = opts.no_color or os.environ.get("NO_COLOR", "") != ""
    return Settings(
        profile=profile_name, config_files=tuple(f.path for f in files), jid=jid, host=host,
        port=port,
        tls=tls, ca=ca, insecure=insecure, timeout=timeout, output=output,  # type: ignore[arg-type]
        no_color=no_color, verbose=opts.verbose, debug=opts.debug,
        credential=_credential_source(profile, origin), sources=sources,
    )


_FLAGS = {"jid": "--jid", "server": "--server", "tls": "--tls", "ca": "--ca",
          "timeout": "--timeout"}


def _from_source(exc: XiotError, key: str, source: str, profile: str | None,
                 origin: ConfigFile | None) -> XiotError:
    """The same complaint, saying where the value came from, with that source's exit code."""
    if source == "flag":
        cls = ConfigError if isinstance(exc, ConfigError) else UsageError
        return cls(f"{_FLAGS.get(key, key)}: {exc.message}", exc.hint)
    if source == "env":
        return ConfigError(f"XIOT_{key.upper()}: {exc.message}", exc.hint)
    where = f"profile '{profile}'" + (f" in {origin.path}" if origin else "")
    return ConfigError(f"{where}: '{key}': {exc.message}", exc.hint)


def _valid_jid(text: str) -> str:
    from xiot.xmpp.jid import parse_jid

    return str(parse_jid(text))


def _tls_mode(text: str) -> str:
    if text not in TLS_MODES:
        raise UsageError(f"unknown TLS mode '{text}'", "Use auto, starttls or direct")
    return text


def _as_port(value: Any, origin: ConfigFile | None) -> int:
    try:
        port = int(value)
    except (TypeError, ValueError):
        port = 0
    if not 0 < port < 65536:
        where = f" in {origin.path}" if origin else ""
        raise ConfigError(f"bad port '{value}'{where}", "The port must be 1-65535")
    return port


def _as_timeout(value: Any) -> float:
    try:
        timeout = float(value)
    except (TypeError, ValueError):
        timeout = -1.0
    if timeout <= 0:
        raise UsageError(f"bad timeout '{value}'", "Give a positive number of seconds")
    return timeout


def _check_ca(path: Path) -> Path:
    """A CA file must exist and hold at least one PEM certificate."""
    try:
        text = path.read_text(encoding="ascii", errors="replace")
    except OSError as exc:
        raise ConfigError(
            f"cannot read CA file {path}: {exc.strerror}", "Check the CA file path"
        ) from None
    if "-----BEGIN CERTIFICATE-----" not in text:
        raise ConfigError(
            f"CA file {path} holds no PEM certificate",
            "The CA file must be PEM, with one or more '-----BEGIN CERTIFICATE-----' blocks",
        )
    return path


def _credential_source(profile: dict[str, Any], origin: ConfigFile | None) -> Credential:
    """Decide where the password will come from, without fetching it yet."""
    if os.environ.get("XIOT_PASSWORD"):
        return Credential("env", "XIOT_PASSWORD")
    if profile.get("password_cmd"):
        return Credential("cmd", str(profile["password_cmd"]))
    if profile.get("password_env"):
        return Credential("env", str(profile["password_env"]))
    if profile.get("password") is not None and origin is not None:
        if origin.private:
            return Credential("file", origin=str(origin.path), secret=str(profile["password"]))
        log.warning(
            "ignoring the password in %s: the file is readable by others "
            "(run 'chmod 600 %s', or use password_cmd)", origin.path, origin.path,
        )
    return Credential("prompt")


def fetch_password(settings: Settings) -> str:
    """The password for ``settings.jid``, from the configured source.

    Raises ConfigError (exit 3) when the source fails; the message never contains the secret.
    """
    cred = settings.credential
    if cred.source == "file" and cred.secret is not None:
        return cred.secret
    if cred.source == "env":
        value = os.environ.get(cred.detail)
        if not value:
            raise ConfigError(
                f"environment variable {cred.detail} is not set or empty",
                "Export it, or change password_env in the profile",
            )
        return value
    if cred.source == "cmd":
        return _run_password_cmd(cred.detail, settings.timeout)
    if sys.stdin.isatty() and sys.stderr.isatty():
        return _prompt(f"Password for {settings.jid}: ")
    raise ConfigError(
        f"no password for {settings.jid}",
        "Set password_cmd or password_env in the profile, or XIOT_PASSWORD in the environment",
    )


def _prompt(text: str) -> str:
    """Ask on the terminal; Ctrl-C interrupts at once (exit 130), even inside an event loop.

    asyncio replaces the SIGINT handler with one that only cancels the running task, which a
    blocking terminal read never notices; the default handler is put back for the prompt.
    """
    import signal
    import threading

    restore = None
    if threading.current_thread() is threading.main_thread():
        restore = signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        return getpass.getpass(text, stream=sys.stderr)
    except EOFError:
        raise ConfigError("no password entered") from None
    finally:
        if restore is not None:
            signal.signal(signal.SIGINT, restore)


def _run_password_cmd(command: str, timeout: float) -> str:
    try:
        argv = shlex.split(command)
    except ValueError as exc:
        raise ConfigError(f"cannot parse password_cmd: {exc}") from None
    try:
        done = subprocess.run(
            argv, capture_output=True, text=True, timeout=max(timeout, 30), check=False,
            stdin=subprocess.DEVNULL if not sys.stdin.isatty() else None,
        )
    except FileNotFoundError:
        raise ConfigError(
            f"password_cmd program not found: {argv[0]}", "Check the profile's password_cmd"
        ) from None
    except subprocess.TimeoutExpired:
        raise ConfigError("password_cmd did not finish in time") from None
    if done.returncode != 0:
        raise ConfigError(
            f"password_cmd failed with exit status {done.returncode}",
            "Run the command by hand to see why",
        )
    password = done.stdout.splitlines()[0] if done.stdout else ""
    if not password:
        raise ConfigError("password_cmd printed nothing", "It must print the password on stdout")
    return password


def profile_names(opts: GlobalOptions) -> list[dict[str, Any]]:
    """Every profile as a record for ``config profiles`` (no secrets)."""
    files = read_all(explicit_config(opts))
    default = _default_profile_name(files)
    rows = []
    for name, (body, cfg) in sorted(load_profiles(files).items()):
        rows.append({
            "profile": name,
            "default": name == default,
            "jid": body.get("jid"),
            "server": body.get("server"),
            "tls": body.get("tls", "auto"),
            "file": str(cfg.path),
        })
    return rows
