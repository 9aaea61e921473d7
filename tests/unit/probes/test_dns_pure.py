"""Pure DNS helpers: RFC 2782 ordering, domain and resolver parsing."""

from __future__ import annotations

import random
from collections import Counter

import pytest

from xiot.errors import UsageError
from xiot.xmpp.dns import Nameserver, SrvRecord, order_srv, parse_resolver, validate_domain


def _srv(priority: int, weight: int, target: str) -> SrvRecord:
    return SrvRecord("xmpp-client", priority, weight, 5222, target, 300)


def test_priority_ascending() -> None:
    records = [_srv(20, 0, "c"), _srv(10, 0, "a"), _srv(15, 0, "b")]
    assert [r.target for r in order_srv(records, random.Random(0))] == ["a", "b", "c"]


def test_weighted_order_is_deterministic_with_seeded_rng() -> None:
    records = [_srv(10, 60, "a"), _srv(10, 30, "b"), _srv(10, 10, "c"), _srv(5, 0, "first")]
    one = order_srv(records, random.Random(42))
    two = order_srv(records, random.Random(42))
    assert one == two
    assert one[0].target == "first"
    assert sorted(r.target for r in one) == ["a", "b", "c", "first"]


def test_weights_bias_the_first_choice() -> None:
    rng = random.Random(7)
    records = [_srv(1, 90, "heavy"), _srv(1, 10, "light")]
    firsts = Counter(order_srv(records, rng)[0].target for _ in range(2000))
    assert 0.85 < firsts["heavy"] / 2000 < 0.95


def test_zero_weight_records_are_placed_first(seed: int = 2) -> None:
    """RFC 2782: zero-weight records go to the front before the running sums are taken, so
    a draw of 0 picks one of them; anywhere else, a draw of 0 would pick the heavy one."""
    records = [_srv(1, 5, "w"), _srv(1, 0, "z1"), _srv(1, 0, "z2")]
    assert random.Random(seed).randint(0, 5) == 0  # this seed's first draw is 0
    assert [r.target for r in order_srv(records, random.Random(seed))] == ["z1", "z2", "w"]
    assert random.Random(0).randint(0, 5) != 0  # a draw above 0 skips the zero weights
    assert [r.target for r in order_srv(records, random.Random(0))] == ["w", "z1", "z2"]


def test_zero_weight_records_come_first_about_one_time_in_total_plus_one() -> None:
    rng = random.Random(11)
    records = [_srv(1, 5, "w"), _srv(1, 0, "z")]
    firsts = Counter(order_srv(records, rng)[0].target for _ in range(3000))
    assert 0.12 < firsts["z"] / 3000 < 0.22  # 1 draw in 6 (0..5) is a 0


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("example.org", "example.org"),
        ("  Example.ORG.  ", "example.org"),
        ("bücher.example", "xn--bcher-kva.example"),
        ("localhost", "localhost"),
    ],
)
def test_validate_domain_accepts(text: str, expected: str) -> None:
    assert validate_domain(text) == expected


@pytest.mark.parametrize(
    "text",
    ["", "user@example.org", "example.org/res", "exa mple.org", "-bad.example", "a..b",
     "under_score.example", "127.0.0.1", "[::1]", "x" * 64 + ".example", "a." * 130 + "org"],
)
def test_validate_domain_rejects(text: str) -> None:
    with pytest.raises(UsageError) as info:
        validate_domain(text)
    assert info.value.message


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("127.0.0.1", Nameserver("127.0.0.1", 53)),
        ("127.0.0.2:5353", Nameserver("127.0.0.2", 5353)),
        ("::1", Nameserver("::1", 53)),
        ("[::1]:5353", Nameserver("::1", 5353)),
    ],
)
def test_parse_resolver(text: str, expected: Nameserver) -> None:
    assert parse_resolver(text) == expected


@pytest.mark.parametrize("text", ["dns.example", "127.0.0.1:0", "127.0.0.1:x", "[::1", "1.2.3"])
def test_parse_resolver_rejects(text: str) -> None:
    with pytest.raises(UsageError):
        parse_resolver(text)
