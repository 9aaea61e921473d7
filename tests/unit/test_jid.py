"""JID validation: typos become usage errors before any connection is made."""

from __future__ import annotations

import pytest

from xiot.errors import UsageError
from xiot.xmpp.jid import parse_jid


@pytest.mark.parametrize("text,local,domain,resource", [
    ("thermo7@plant.example", "thermo7", "plant.example", None),
    ("thermo7@Plant.Example/sensor", "thermo7", "plant.example", "sensor"),
    ("plant.example", None, "plant.example", None),
    ("pubsub.plant.example", None, "pubsub.plant.example", None),
    ("a@b.example/res/with/slashes", "a", "b.example", "res/with/slashes"),
    ("dev@[::1]", "dev", "[::1]", None),
    ("dev@xn--bcher-kva.example", "dev", "xn--bcher-kva.example", None),
])
def test_valid(text, local, domain, resource):
    jid = parse_jid(text)
    assert (jid.local, jid.domain, jid.resource) == (local, domain, resource)
    assert parse_jid(str(jid)) == jid


@pytest.mark.parametrize("text,why", [
    ("", "empty"),
    ("a@@b", "'@'"),
    ("@b.example", "local part"),
    ("a@", "domain is empty"),
    ("a@b.example/", "resource"),
    ("a b@c.example", "whitespace"),
    ("a@b..example", "empty label"),
    ("a@-b.example", "'-'"),
    ("a@b_c!.example", "not allowed"),
    ("x" * 1024 + "@b.example", "1023"),
    ("a@[not-v6]", "IPv6"),
])
def test_invalid(text, why):
    with pytest.raises(UsageError) as info:
        parse_jid(text)
    assert why in info.value.message
    assert info.value.exit_code == 2


def test_bare_and_full():
    jid = parse_jid("a@b.example/r")
    assert jid.bare == "a@b.example" and jid.is_full
    assert not parse_jid("a@b.example").is_full
