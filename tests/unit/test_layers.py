"""Layers import one way: a module never imports from a layer above its own.

Read from the source with ``ast`` (nothing is imported), so the rule holds for imports inside
functions too, where a lint that only looks at module level would miss them.  The layers are
those of ARCHITECTURE.md, lowest first.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2] / "xiot"

#: Lowest first.  A module may import its own layer and the layers below it.
LAYERS: list[set[str]] = [
    {"errors", "paths", "fanout", "backoff", "redact", "records", "xmlsafe", "timespec",
     "addresses"},
    {"output", "progress", "live"},
    {"config"},
    {"xmpp"},
    {"iot", "probes", "presence", "pubsub", "provision", "replay"},
    {"lab", "sim"},
    {"demo"},
    {"runtime"},
    {"commands", "shell", "cli", "__main__"},
]


def _layer_of(top: str) -> int:
    for number, names in enumerate(LAYERS):
        if top in names:
            return number
    raise AssertionError(f"xiot.{top} is in no layer: add it to ARCHITECTURE.md and here")


def _imports(path: Path) -> list[tuple[int, str]]:
    tree = ast.parse(path.read_text(encoding="utf-8"), str(path))
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found += [(node.lineno, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.append((node.lineno, node.module))
            if node.module == "xiot":  # from xiot import cli (a module), not __version__
                found += [(node.lineno, f"xiot.{alias.name}") for alias in node.names
                          if (ROOT / alias.name).is_dir() or (ROOT / f"{alias.name}.py").exists()]
    return [(line, name) for line, name in found if name.startswith("xiot.")]


def _modules() -> list[Path]:
    return sorted(p for p in ROOT.rglob("*.py") if p.name != "__init__.py" or p.parent != ROOT)


def _top(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return parts[0]


@pytest.mark.parametrize("path", _modules(), ids=lambda p: str(p.relative_to(ROOT)))
def test_imports_run_down_the_layers(path: Path) -> None:
    own = _layer_of(_top(path))
    upward = [f"line {line}: {name}" for line, name in _imports(path)
              if _layer_of(name.split(".")[1]) > own]
    assert not upward, f"{path.relative_to(ROOT)} imports from a higher layer: {upward}"


def test_named_rules_of_the_runtime_issue() -> None:
    """The two cycles that existed: xmpp -> probes/iot and config -> xmpp."""
    for path in (ROOT / "xmpp").rglob("*.py"):
        bad = [n for _, n in _imports(path) if n.startswith(("xiot.probes", "xiot.iot"))]
        assert not bad, (path, bad)
    for path in (ROOT / "config").rglob("*.py"):
        bad = [n for _, n in _imports(path) if n.startswith("xiot.xmpp")]
        assert not bad, (path, bad)


def test_the_checker_sees_an_upward_import(tmp_path: Path) -> None:
    """The rule is real: a module that imports upward is reported."""
    bad = tmp_path / "bad.py"
    bad.write_text("def f():\n    from xiot.probes.dns import dns_checks\n")
    assert _imports(bad) == [(2, "xiot.probes.dns")]
    assert _layer_of("probes") > _layer_of("xmpp")


def _from_imports(path: Path) -> list[tuple[int, str, str]]:
    tree = ast.parse(path.read_text(encoding="utf-8"), str(path))
    return [(node.lineno, node.module, alias.name) for node in ast.walk(tree)
            if isinstance(node, ast.ImportFrom) and node.level == 0 and node.module
            and node.module.startswith("xiot") for alias in node.names]


@pytest.mark.parametrize("path", _modules(), ids=lambda p: str(p.relative_to(ROOT)))
def test_every_xiot_import_resolves(path: Path) -> None:
    """Imports inside functions run only when that code path does; a module that moved
    must not leave one behind that fails at run time."""
    import importlib

    broken = []
    for line, module, name in _from_imports(path):
        target = importlib.import_module(module)
        if not hasattr(target, name):
            try:
                importlib.import_module(f"{module}.{name}")
            except ImportError:
                broken.append(f"line {line}: from {module} import {name}")
    assert not broken, broken
