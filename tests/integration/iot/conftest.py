"""Fixtures for the IoT integration tests (the fleet itself lives in tests/fleet.py)."""

from __future__ import annotations

import pytest

from tests.conftest import LAB_NAME
from tests.helpers import lab_settings


@pytest.fixture()
def admin_settings(lab):
    return lab_settings(LAB_NAME)
