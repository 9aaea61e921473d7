"""Profiles, environment variables and credential lookup.

Precedence is flags > ``XIOT_*`` environment > profile > defaults, resolved once per command
into a frozen ``Settings``.  The password is not part of ``Settings``: it is fetched only when a
session actually authenticates, so ``config show`` and ``--help`` never run a password command,
and a secret never sits in an object that might be printed.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Literal

from xiot.addresses import split_host_port
from xiot.config.credentials import Credential, credential_source
from xiot.config.files import (
    ConfigFile,
    check_ca,
    default_profile_name,
    load_profiles,
    read_all,
    read_current_profile,
)
from xiot.errors import ConfigError, UsageError, XiotError
from xiot.output import ALL_FORMATS

TlsMode = Literal["auto", "starttls", "direct", "none"]
TLS_MODES: tuple[str, ...] = ("auto", "starttls", "direct", "none")
#: The one host name ``--tls none`` accepts besides loopback addresses (RFC 6761 reserves it).
LOOPBACK_NAME = "localhost"
DEFAULT_TIMEOUT = 10.0


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


# --------------------------------------------------------------------------- resolution


def parse_server(text: str) -> tuple[str, int | None]:
    """``host``, ``host:port``, ``[v6]:port`` -> (host, port)."""
    return split_host_port(text, "server address")


def _env(name: str) -> str | None:
    value = os.environ.get(f"XIOT_{name}")
    return value if value not in (None, "") else None


def _env_bool(name: str) -> bool | None:
    value = _env(name)
    if value is None:
        return None
    return value.lower() in ("1", "true", "yes", "on")


def _chosen_profile(opts: GlobalOptions, files: list[ConfigFile]) -> tuple[str | None, str]:
    """The profile to use and why: --profile > XIOT_PROFILE > 'xiot config use' > the
    files' default_profile.  An explicit --config file ignores the current profile, which
    names a profile of the usual files."""
    if opts.profile:
        return opts.profile, "flag"
    if _env("PROFILE"):
        return _env("PROFILE"), "env"
    current = None if explicit_config(opts) else read_current_profile()
    if current:
        return current, "current (xiot config use)"
    name = default_profile_name(files)
    return name, "default_profile" if name else "default"


def explicit_config(opts: GlobalOptions) -> Path | None:
    """The config file named by ``--config`` or ``XIOT_CONFIG``, if any."""
    env_config = _env("CONFIG")
    return opts.config or (Path(env_config).expanduser() if env_config else None)


def resolve(opts: GlobalOptions, jid_check: Callable[[str], str] | None = None) -> Settings:
    """Merge flags, environment, profile and defaults into ``Settings``.

    ``jid_check`` normalises and validates the JID (the caller passes the XMPP layer's
    parser; configuration sits below it and knows no JID syntax).  A bad value is reported
    with its source: a flag is a usage error, a profile or environment value a config error.
    """
    files = read_all(explicit_config(opts))
    profiles = load_profiles(files)
    profile_name, profile_source = _chosen_profile(opts, files)
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

    sources: dict[str, str] = {"profile": profile_source}

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
        jid = checked("jid", jid_check, str(jid)) if jid_check else str(jid)
    server = pick("server", opts.server, _env("SERVER"), None)
    host, port = checked("server", parse_server, str(server)) if server else (None, None)
    if port is None and profile.get("port") is not None and sources.get("server") != "flag":
        port = _as_port(profile["port"], origin)
    tls = checked("tls", _tls_mode, str(pick("tls", opts.tls, _env("TLS"), "auto")))
    if tls == "none":
        _check_plaintext(host, sources, profile_name)
    ca_value = pick("ca", opts.ca, _env("CA"), None)
    ca = checked("ca", check_ca, Path(str(ca_value)).expanduser()) if ca_value else None
    insecure = bool(pick("insecure", opts.insecure, _env_bool("INSECURE"), False))
    timeout = checked("timeout", _as_timeout,
                      pick("timeout", opts.timeout, _env("TIMEOUT"), DEFAULT_TIMEOUT))
    output = pick("output", opts.output, _env("OUTPUT"), None)
    if output is not None and output not in ALL_FORMATS:
        raise UsageError(f"unknown output format '{output}'", f"Use {', '.join(ALL_FORMATS)}")
    no_color = opts.no_color or os.environ.get("NO_COLOR", "") != ""
    return Settings(
        profile=profile_name, config_files=tuple(f.path for f in files), jid=jid, host=host,
        port=port,
        tls=tls, ca=ca, insecure=insecure, timeout=timeout, output=output,  # type: ignore[arg-type]
        no_color=no_color, verbose=opts.verbose, debug=opts.debug,
        credential=credential_source(profile, origin), sources=sources,
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


def _tls_mode(text: str) -> str:
    if text not in TLS_MODES:
        raise UsageError(f"unknown TLS mode '{text}'", "Use auto, starttls, direct or none")
    return text


def is_loopback_host(host: str) -> bool:
    """True for 127.0.0.0/8, ::1 and the name ``localhost``: where ``--tls none`` may go."""
    import ipaddress

    if host.lower().rstrip(".") == LOOPBACK_NAME:
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


PLAINTEXT_HINT = ("Without TLS the password crosses the connection in plaintext: xiot allows "
                  "that only to a test server on 127.0.0.1, ::1 or localhost")


def _check_plaintext(host: str | None, sources: dict[str, str], profile: str | None) -> None:
    """Refuse ``tls: none`` unless the server is named and is a loopback address.

    Checked here, before any DNS look-up or connection, and again on the address the Session
    is about to connect to.  As for every other setting, a flag makes it a usage error (the
    mode or the server given on the command line), else the environment or a profile a
    configuration error.
    """
    if host is not None and is_loopback_host(host):
        return
    source = sources["tls"]
    what = {"flag": "--tls none", "env": "XIOT_TLS=none"}.get(
        source, f"tls: none (profile '{profile}')")
    if host is None:
        message = f"{what} needs --server 127.0.0.1:PORT (loopback only)"
    else:
        message = f"{what} is allowed to a loopback server only, not {host}"
    flag = "flag" in (source, sources.get("server"))
    raise (UsageError if flag else ConfigError)(message, PLAINTEXT_HINT)


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




def profile_names(opts: GlobalOptions) -> list[dict[str, Any]]:
    """Every profile as a record for ``config profiles`` (no secrets)."""
    files = read_all(explicit_config(opts))
    chosen, _ = _chosen_profile(replace(opts, profile=None), files)
    rows = []
    for name, (body, cfg) in sorted(load_profiles(files).items()):
        rows.append({
            "profile": name,
            "default": name == chosen,
            "jid": body.get("jid"),
            "server": body.get("server"),
            "tls": body.get("tls", "auto"),
            "file": str(cfg.path),
        })
    return rows
