"""The guard that keeps the CLI tests honest about which copy of xiot they run."""

from __future__ import annotations

import shutil
from pathlib import Path

from tests.conftest import _tree_digest, installed_copy_differences


def test_the_installed_copy_is_this_working_tree():
    assert installed_copy_differences() == []


def test_a_changed_copy_is_noticed(tmp_path):
    here = Path(__file__).resolve().parents[2] / "xiot"
    copy = tmp_path / "xiot"
    shutil.copytree(here, copy, ignore=shutil.ignore_patterns("__pycache__"))
    assert _tree_digest(copy) == _tree_digest(here)
    (copy / "errors.py").write_text((copy / "errors.py").read_text() + "\n# edited\n")
    changed = _tree_digest(copy)
    assert {k for k in changed if changed[k] != _tree_digest(here)[k]} == {"errors.py"}
