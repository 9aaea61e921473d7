"""Fixture module: the session's ejabberd lab, and one fixture that runs a test on both servers.

``ejabberd_lab`` starts Debian's ejabberd as a lab of its own (``testej``) the first time a test
asks for it, and skips, naming what is missing, where ejabberd is not installed.  ``server``
is parametrised over ``prosody`` (the session's ``testlab``) and ``ejabberd``: a PubSub test
that takes it runs once against each real server.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass

import pytest

from tests.conftest import LAB_NAME
from tests.helpers import lab_settings

EJABBERD_LAB = "testej"
EJABBERD_DEVICES = 20


@pytest.fixture(scope="session")
def ejabberd_lab() -> Iterator:
    """The running ejabberd test lab (``xiot.lab.manager.Lab``), profile ``testej``."""
    from xiot.errors import LabError
    from xiot.lab import ejabberd, manager

    try:
        ejabberd.find_ejabberd()
    except LabError as exc:
        pytest.skip(f"ejabberd lab tests need Debian's ejabberd package: {exc.message}")
    lab, _ = manager.up(name=EJABBERD_LAB, devices=EJABBERD_DEVICES, server="ejabberd")
    yield lab
    manager.down(EJABBERD_LAB)


@dataclass(frozen=True)
class ServerUnderTest:
    """One lab server as a PubSub test sees it."""

    kind: str
    lab: object
    profile: str

    @property
    def service(self) -> str:
        return f"pubsub.{self.lab.domain}"

    @property
    def env(self) -> dict[str, str]:
        env = dict(os.environ)
        env["XIOT_PROFILE"] = self.profile
        return env

    def settings(self, **changes):  # type: ignore[no-untyped-def]
        return lab_settings(self.profile, **changes)

    def accounts(self) -> dict:
        from xiot.lab import manager

        return {a.user: a for a in manager.accounts(self.lab)}

    def spare(self, number: int):  # type: ignore[no-untyped-def]
        """A device account no simulated fleet uses (1 to 5)."""
        first = 41 if self.kind == "prosody" else 16
        return self.accounts()[f"dev{first + number - 1:04d}"]

    def env_as(self, account) -> dict[str, str]:  # type: ignore[no-untyped-def]
        """The environment that runs ``xiot`` as another lab account."""
        return self.env | {"XIOT_JID": account.jid, "XIOT_PASSWORD": account.password}

    def node(self, name: str) -> str:
        """A node name of this test's own, so tests never share nodes."""
        import uuid

        return f"{name}-{uuid.uuid4().hex[:6]}"


@pytest.fixture(scope="session", params=["prosody", "ejabberd"])
def server(request) -> ServerUnderTest:  # type: ignore[no-untyped-def]
    """Each lab server in turn: the session's Prosody lab, then the ejabberd lab."""
    if request.param == "prosody":
        return ServerUnderTest("prosody", request.getfixturevalue("lab"), LAB_NAME)
    return ServerUnderTest("ejabberd", request.getfixturevalue("ejabberd_lab"), EJABBERD_LAB)
