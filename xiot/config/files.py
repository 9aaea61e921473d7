"""Config files: ``config.yaml`` plus ``config.d/*.yaml``, parsed with the safe YAML loader.

Profiles are checked for unknown keys and value types as they are read, so a typo in a file
is reported with the file's name before anything connects.
"""

from __future__ import annotations

import stat
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from xiot.config.cache import ParsedFiles
from xiot.errors import ConfigError
from xiot.paths import config_dir

PROFILE_KEYS = {
    "jid", "server", "port", "tls", "ca", "insecure", "timeout",
    "password", "password_cmd", "password_env",
}


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


def _parse_yaml(path: Path) -> Any:
    import yaml  # deferred: only a file not in the cache pays for it

    try:
        return yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}" if mark else ""
        raise ConfigError(f"{path}: invalid YAML{where}", "Fix the file's syntax") from None
    except OSError as exc:
        raise ConfigError(f"cannot read {path}: {exc.strerror}") from None


def read_config_file(path: Path, cache: ParsedFiles | None = None) -> ConfigFile:
    data = cache.get(path) if cache is not None else None
    if data is None:
        data = _parse_yaml(path)
        if cache is not None:
            cache.put(path, data)
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
    """Every config file, parsed once per command, or taken from the parse cache when the
    file has not changed since (see ``xiot.config.cache``)."""
    cache = ParsedFiles()
    files = [read_config_file(path, cache) for path in config_paths(explicit)]
    cache.save()
    return files


def load_profiles(files: list[ConfigFile]) -> dict[str, tuple[dict[str, Any], ConfigFile]]:
    """Every profile by name, with the file it came from (later files win)."""
    found: dict[str, tuple[dict[str, Any], ConfigFile]] = {}
    for cfg in files:
        for name, body in cfg.profiles.items():
            found[name] = (body, cfg)
    return found


def default_profile_name(files: list[ConfigFile]) -> str | None:
    """The last file's ``default_profile`` wins, like its profiles do."""
    for cfg in reversed(files):
        if cfg.default_profile:
            return str(cfg.default_profile)
    return None


def check_ca(path: Path) -> Path:
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


def current_profile_path() -> Path:
    """Where ``xiot config use`` keeps the current profile's name."""
    return config_dir() / "current-profile"


def read_current_profile() -> str | None:
    """The profile chosen with ``xiot config use``, if any."""
    try:
        name = current_profile_path().read_text(encoding="utf-8").strip()
    except OSError:
        return None
    return name or None


def write_current_profile(name: str | None) -> Path:
    """Make ``name`` the current profile (``None`` forgets it); returns the file."""
    path = current_profile_path()
    if name is None:
        path.unlink(missing_ok=True)
        return path
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(name + "\n", encoding="utf-8")
    return path
