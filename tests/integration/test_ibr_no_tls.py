"""In-band registration never sends a password over a stream without TLS.

The open lab offers registration and no STARTTLS at all (as a stripped or misconfigured
server would); only ``--tls none`` to a loopback test server may register there.
"""

from __future__ import annotations

import asyncio

import pytest

from tests.helpers import lab_settings
from xiot.errors import TLSError
from xiot.provision.ibr import register


def test_registration_without_tls_is_refused_before_the_password_is_sent(open_lab):
    settings = lab_settings("openlab", tls="starttls", ca=None)
    with pytest.raises(TLSError, match="never sends a password in plaintext"):
        asyncio.run(register(settings, "newcomer@localhost", "s3cret-pw", 5))


def test_tls_none_registers_on_the_loopback_test_server(open_lab):
    settings = lab_settings("openlab")
    assert settings.tls == "none"
    outcome = asyncio.run(register(settings, "newcomer2@localhost", "s3cret-pw", 5))
    assert outcome in ("created", "exists")
