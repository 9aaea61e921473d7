"""Every third-party module xiot imports comes from a dependency pyproject.toml declares.

A module that is merely present in the developer's interpreter works here and breaks a clean
install (``idna`` did: ``xiot probe`` died with ModuleNotFoundError in a fresh environment).
"""

from __future__ import annotations

import ast
import re
import sys
import tomllib
from importlib import metadata
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def _norm(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def _declared() -> set[str]:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    return {_norm(re.split(r"[\s\[<>=!~;(]", dep, maxsplit=1)[0])
            for dep in project["dependencies"]}


def _optional(tree: ast.AST) -> set[int]:
    """Import nodes inside ``try: ... except ImportError:`` (fallbacks, not requirements)."""
    guarded: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Try) and any(
                handler.type is not None and any(
                    name in ast.unparse(handler.type)
                    for name in ("ImportError", "ModuleNotFoundError"))
                for handler in node.handlers):
            for part in (node.body, *(h.body for h in node.handlers)):
                guarded.update(id(n) for stmt in part for n in ast.walk(stmt))
    return guarded


def third_party_imports() -> dict[str, set[str]]:
    """Top-level third-party module -> files of xiot/ that import it."""
    found: dict[str, set[str]] = {}
    for path in sorted((ROOT / "xiot").rglob("*.py")):
        tree = ast.parse(path.read_text(encoding="utf-8"), str(path))
        skip = _optional(tree)
        for node in ast.walk(tree):
            if id(node) in skip:
                continue
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                names = [node.module]
            else:
                continue
            for name in names:
                top = name.split(".")[0]
                if top != "xiot" and top not in sys.stdlib_module_names:
                    found.setdefault(top, set()).add(str(path.relative_to(ROOT)))
    return found


def test_every_third_party_import_is_declared():
    declared = _declared()
    provides = metadata.packages_distributions()
    undeclared = {
        module: sorted(files) for module, files in third_party_imports().items()
        if not declared & {_norm(dist) for dist in provides.get(module, [])}
    }
    assert not undeclared, f"imported but not declared in pyproject.toml: {undeclared}"


def test_the_check_sees_lazy_imports_inside_functions():
    """idna is imported inside functions only; the check must still find it."""
    assert "idna" in third_party_imports()
