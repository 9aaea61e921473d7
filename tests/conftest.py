"""Test-wide isolation and the session-scoped lab server.

Every test run gets private XDG and lab directories, so tests never read or write the user's
xiot configuration and never collide with a lab the user is running.  The lab (a real Prosody
on loopback) is started once, on first use, by the ``lab`` fixture, and stopped at the end.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

_ROOT = Path(tempfile.mkdtemp(prefix="xiot-tests-"))
for _var, _sub in (("XDG_CONFIG_HOME", "config"), ("XDG_STATE_HOME", "state"),
                   ("XDG_CACHE_HOME", "cache"), ("XIOT_LAB_HOME", "labs")):
    os.environ[_var] = str(_ROOT / _sub)
for _var in ("XIOT_PROFILE", "XIOT_CONFIG", "XIOT_JID", "XIOT_SERVER", "XIOT_PASSWORD",
             "XIOT_TLS", "XIOT_CA", "XIOT_TIMEOUT", "XIOT_OUTPUT", "XIOT_INSECURE", "NO_COLOR"):
    os.environ.pop(_var, None)

LAB_NAME = "testlab"
LAB_DEVICES = 50

pytest_plugins = ["tests.fleet"]


def _tree_digest(package: Path) -> dict[str, str]:
    import hashlib

    return {str(p.relative_to(package)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(package.rglob("*.py"))}


def installed_copy_differences() -> list[str]:
    """Files where the ``xiot`` the console script imports differs from this working tree.

    The CLI tests run the installed console script; an edit without a reinstall would make
    them test yesterday's code and pass.  Empty when they match (an editable install, or a
    package built from this tree).
    """
    import subprocess
    import sys

    here = Path(__file__).resolve().parents[1] / "xiot"
    found = subprocess.run([sys.executable, "-c", "import xiot; print(xiot.__file__)"],
                           capture_output=True, text=True, cwd="/", check=False)
    if found.returncode != 0:
        return ["xiot is not installed for this interpreter (run scripts/setup)"]
    installed = Path(found.stdout.strip()).parent
    if installed.resolve() == here.resolve():
        return []
    mine, theirs = _tree_digest(here), _tree_digest(installed)
    names = mine.keys() | theirs.keys()
    return sorted(name for name in names if mine.get(name) != theirs.get(name))


def pytest_sessionstart(session: pytest.Session) -> None:
    differences = installed_copy_differences()
    if differences:
        shown = ", ".join(differences[:5]) + (" ..." if len(differences) > 5 else "")
        pytest.exit(f"the installed xiot differs from this working tree ({shown}): the CLI "
                    "tests would test another copy; reinstall (bash scripts/setup)", returncode=3)


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    from xiot.lab import manager

    for lab in manager.all_labs():
        manager.down(lab.name)
    shutil.rmtree(_ROOT, ignore_errors=True)


@pytest.fixture(scope="session")
def lab() -> Iterator:
    """The running test lab (``xiot.lab.manager.Lab``), with a ``testlab`` profile."""
    from xiot.lab import manager

    lab, _ = manager.up(name=LAB_NAME, devices=LAB_DEVICES)
    yield lab
    manager.down(LAB_NAME)


OPEN_LAB_NAME = "openlab"


@pytest.fixture(scope="session")
def open_lab() -> Iterator:
    """A running open lab (no TLS, any password, domain ``localhost``) with an ``openlab``
    profile in ``tls: none``: the server scansion suites expect.  Started once, stopped by
    its pid at the end."""
    from xiot.lab import manager

    lab, _ = manager.up(name=OPEN_LAB_NAME, devices=2, open=True)
    yield lab
    manager.down(OPEN_LAB_NAME)


@pytest.fixture(scope="session")
def lab_accounts(lab) -> dict:
    from xiot.lab import manager

    return {a.user: a for a in manager.accounts(lab)}


@pytest.fixture()
def lab_env(lab) -> dict[str, str]:
    """Environment for running the ``xiot`` command against the lab."""
    env = dict(os.environ)
    env["XIOT_PROFILE"] = LAB_NAME
    return env


from tests.probe_world import probe_world  # noqa: E402,F401  (the probe tests' loopback world)
