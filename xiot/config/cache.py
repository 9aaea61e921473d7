"""Parsed config files kept between runs, so a command need not import the YAML parser.

Importing PyYAML costs ~15 ms, paid by every command that resolves a profile, while config
files change rarely.  Each file's parsed content is kept in ``$XDG_CACHE_HOME/xiot`` with the
file's inode, size, mode and modification time; a file whose stamp differs is parsed again.
The cache is written with mode 0600 (a profile may hold a password key, in a file that must
itself be private to be used); anything unexpected about it is ignored and it is rebuilt.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from xiot.paths import cache_dir

_FILE = "config-cache.json"


def _stamp(path: Path) -> list[int] | None:
    try:
        st = path.stat()
    except OSError:
        return None
    return [st.st_ino, st.st_size, st.st_mode, st.st_mtime_ns]


class ParsedFiles:
    """The cache for one run: read once, written once if anything was parsed afresh."""

    def __init__(self) -> None:
        self.path = cache_dir() / _FILE
        try:
            loaded = json.loads(self.path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            loaded = {}
        self.entries: dict[str, Any] = loaded if isinstance(loaded, dict) else {}
        self.changed = False

    def get(self, path: Path) -> Any | None:
        entry = self.entries.get(str(path))
        stamp = _stamp(path)
        if not isinstance(entry, dict) or stamp is None or entry.get("stamp") != stamp:
            return None
        return entry.get("data")

    def put(self, path: Path, data: Any) -> None:
        stamp = _stamp(path)
        try:
            json.dumps(data)  # dates and other YAML-only types are simply not cached
        except (TypeError, ValueError):
            return
        if stamp is not None:
            self.entries[str(path)] = {"stamp": stamp, "data": data}
            self.changed = True

    def save(self) -> None:
        if not self.changed:
            return
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            temporary = self.path.with_suffix(f".{os.getpid()}.tmp")
            fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
            with os.fdopen(fd, "w", encoding="utf-8") as out:
                json.dump(self.entries, out)
            os.replace(temporary, self.path)
        except OSError:  # a read-only cache directory only costs the YAML import
            return
        self.changed = False
