"""A private lab for the provisioning tests: they create and delete accounts and rosters,
which must not disturb the session lab the presence tests count on."""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest

from xiot.lab import manager

LAB = "provlab"


@pytest.fixture(scope="package")
def prov_lab() -> Iterator:
    lab, _ = manager.up(name=LAB, devices=0)
    yield lab
    manager.down(LAB)


@pytest.fixture()
def prov_env(prov_lab, tmp_path) -> dict[str, str]:
    """Environment for ``xiot`` against the private lab, run in a fresh directory."""
    env = dict(os.environ, XIOT_PROFILE=LAB)
    os.chdir(tmp_path)
    return env


def csv_of(jids: list[str], header: str = "jid") -> str:
    return header + "\n" + "".join(f"{j}\n" for j in jids)
