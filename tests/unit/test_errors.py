"""The exit-code contract of the error classes."""

from __future__ import annotations

import pytest

from xiot import errors


@pytest.mark.parametrize("cls,code", [
    (errors.CheckFailed, 1), (errors.UsageError, 2), (errors.ConfigError, 3),
    (errors.ConnectError, 4), (errors.TLSError, 4), (errors.AuthError, 5),
    (errors.Timeout, 6), (errors.RemoteError, 7), (errors.LabError, 3),
])
def test_exit_codes(cls, code):
    assert cls("x").exit_code == code


def test_one_line_joins_message_and_hint():
    err = errors.ConnectError("cannot connect to a:1.", "Check the address")
    assert err.one_line() == "cannot connect to a:1. Check the address"
    assert "\n" not in err.one_line()
    assert errors.UsageError("bad").one_line() == "bad"
