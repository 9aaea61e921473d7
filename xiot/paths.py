"""Where xiot keeps its files: the XDG base directories, resolved at call time.

A module of its own so that the lab, the shell's history and the configuration can all find
their directories without importing one another.
"""

from __future__ import annotations

import os
from pathlib import Path


def config_dir() -> Path:
    """``$XDG_CONFIG_HOME/xiot`` (``~/.config/xiot`` when unset)."""
    base = os.environ.get("XDG_CONFIG_HOME") or str(Path.home() / ".config")
    return Path(base) / "xiot"


def state_dir() -> Path:
    """``$XDG_STATE_HOME/xiot`` (``~/.local/state/xiot`` when unset): where labs live."""
    base = os.environ.get("XDG_STATE_HOME") or str(Path.home() / ".local" / "state")
    return Path(base) / "xiot"


def cache_dir() -> Path:
    """``$XDG_CACHE_HOME/xiot`` (``~/.cache/xiot`` when unset): what can be rebuilt."""
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "xiot"
