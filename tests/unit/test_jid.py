"""JID preparation: typos become usage errors before any connection is made, and whatever xiot
accepts, slixmpp's JID class accepts too and spells the same way."""

from __future__ import annotations

import logging

import pytest

from xiot.errors import UsageError
from xiot.xmpp import jid as jid_module
from xiot.xmpp.jid import parse_jid


@pytest.mark.parametrize("text,local,domain,resource", [
    ("thermo7@plant.example", "thermo7", "plant.example", None),
    ("thermo7@Plant.Example/sensor", "thermo7", "plant.example", "sensor"),
    ("plant.example", None, "plant.example", None),
    ("pubsub.plant.example", None, "pubsub.plant.example", None),
    ("a@b.example/res/with/slashes", "a", "b.example", "res/with/slashes"),
    ("dev@[::1]", "dev", "[::1]", None),
    ("dev@[0:0::1]", "dev", "[::1]", None),
    ("dev@127.0.0.1", "dev", "127.0.0.1", None),
    ("plant.example.", None, "plant.example", None),
    # RFC 7622 3.2: A-labels become U-labels, so both spellings are one address
    ("dev@xn--bcher-kva.example", "dev", "bücher.example", None),
    ("dev@BÜCHER.example", "dev", "bücher.example", None),
    # PRECIS UsernameCaseMapped: case and width mapped in the local part
    ("Éric@x.test", "éric", "x.test", None),
    ("ＤＥＶ１@x.test", "dev1", "x.test", None),
    # the resource keeps its case
    ("dev@x.test/Sensor One", "dev", "x.test", "Sensor One"),
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
    ("a@b_c!.example", "U+005F LOW LINE"),
    ("x" * 1024 + "@b.example", "1023"),
    ("a@[not-v6]", "IPv6"),
    ("a@x.test/" + "r" * 1024, "1023"),
    ("a" * 20_000, "longer than any JID"),
    # issue 15 #13: these passed the old check and crashed later in slixmpp
    ("a\u202eb@x.test", "U+202E RIGHT-TO-LEFT OVERRIDE"),
    ("dev😀@x.test", "U+1F600 GRINNING FACE"),
    ("dev@x.test/r😀", "U+1F600 GRINNING FACE"),
    ("a\u200bb@x.test", "U+200B ZERO WIDTH SPACE"),
    ("a@x.test/r\u200b", "U+200B ZERO WIDTH SPACE"),
    ("a\ufffdb@x.test", "U+FFFD REPLACEMENT CHARACTER"),
    ("a@x.test/r\ufffd", "U+FFFD REPLACEMENT CHARACTER"),
    ("a@x.test/\u05d0a", "right-to-left"),
    ("a@straße.example", "IDNA 2003"),
    ("a@x.test/bell\x07", "control character"),
])
def test_invalid(text, why):
    with pytest.raises(UsageError) as info:
        parse_jid(text)
    assert why in info.value.message
    assert info.value.exit_code == 2
    assert "\n" not in info.value.one_line()


def test_errors_never_echo_bidi_overrides_or_controls():
    with pytest.raises(UsageError) as info:
        parse_jid("a\u202eb@x.test")
    assert "\u202e" not in info.value.message and "\\u202e" in info.value.message


def test_bare_and_full():
    jid = parse_jid("a@b.example/r")
    assert jid.bare == "a@b.example" and jid.is_full
    assert not parse_jid("a@b.example").is_full
    assert parse_jid("a@bücher.example").domain_ascii == "xn--bcher-kva.example"


# -- slixmpp agrees with every address xiot accepts ----------------------------------------

CORPUS = [
    "thermo7@plant.example", "Thermo7@Plant.Example/Sensor", "UPPER@UPPER.TEST/UPPER",
    "éric@café.example/Bureau", "zoë@x.test", "ΣΑΣ@x.test", "σας@x.test/Σ",
    "ковальчук@пример.рф/Дом", "東京@例え.jp/センサー", "장치@x.test",
    "a\u202eb@x.test", "a@x.test/\u202e", "dev😀@x.test", "dev@x.test/r😀", "a@😀.test",
    "a\u200bb@x.test", "a@x.test/r\u200b", "dev@x\u200b.test",
    "a\ufffdb@x.test", "a@x.test/\ufffd",
    "ＡＢＣ@ＸＹＺ.test/ＡＢＣ", "a@x.test/ﬀ", "ǅ@x.test", "♥@x.test", "a@x.test/♥",
    "x" * 1023 + "@x.test", "a@x.test/" + "r" * 1023, "a@" + ("b" * 63 + ".") * 3 + "test",
    "a@straße.example", "a@xn--bcher-kva.example", "a@b_c.example", "a@[::1]", "a@127.0.0.1",
    "a@x.test/a b", "a@x.test/\u05d0a", "a@x.test/\u05d0\u05d1", "a@x.test/\u0301",
    "a\\20b@x.test", "dev@x.test/with/slash", "x.test/only-resource",
    "xmpp:%C3%A9ric@x.test/r%2Fs", "xmpp://me@x.test/dev@x.test?message",
]


@pytest.mark.parametrize("text", CORPUS)
def test_slixmpp_accepts_what_xiot_accepts_and_spells_it_the_same(text):
    slixmpp_jid = pytest.importorskip("slixmpp.jid")
    try:
        jid = parse_jid(text)
    except UsageError as exc:
        assert exc.exit_code == 2
        return
    assert str(slixmpp_jid.JID(str(jid))) == str(jid)
    assert parse_jid(str(jid)) == jid


@pytest.mark.parametrize("code", range(0x20, 0x7F))
def test_the_ascii_shortcut_agrees_with_the_full_preparation(code):
    """Printable ASCII skips PRECIS and stringprep; both paths must give the same answer."""
    def outcome(prepare, value):
        try:
            return prepare(value)
        except ValueError as exc:
            return type(exc)

    for value in (f"a{chr(code)}b", chr(code), f"A{chr(code)}"):
        assert outcome(jid_module._prepare_local, value) == outcome(
            jid_module._prepare_local_fully, value)
        assert outcome(jid_module._prepare_resource, value) == outcome(
            jid_module._prepare_resource_fully, value)


# -- xmpp: URIs (RFC 5122) ---------------------------------------------------------------


@pytest.mark.parametrize("uri,expected", [
    ("xmpp:dev1@x.test", "dev1@x.test"),
    ("XMPP:DEV1@X.TEST", "dev1@x.test"),
    ("xmpp:x.test", "x.test"),
    ("xmpp:dev1@x.test/sim", "dev1@x.test/sim"),
    ("xmpp:%C3%A9ric@caf%C3%A9.example", "éric@café.example"),
    ("xmpp:dev@x.test/r%2Fs%20t", "dev@x.test/r/s t"),
    ("xmpp:dev@x.test#section", "dev@x.test"),
    ("xmpp://ops@x.test/dev1@x.test/sim", "dev1@x.test/sim"),
])
def test_uris_are_accepted_where_jids_are(uri, expected):
    assert str(parse_jid(uri)) == expected


@pytest.mark.parametrize("uri,note", [
    ("xmpp:dev1@x.test?message;subject=hello", "?message;subject=hello"),
    ("xmpp:dev1@x.test?roster;name=Dev", "?roster;name=Dev"),
    ("xmpp://ops@x.test/dev1@x.test", "account 'ops@x.test'"),
])
def test_what_a_uri_asks_beyond_the_address_is_ignored_with_a_note(uri, note, caplog):
    with caplog.at_level(logging.WARNING, logger="xiot"):
        assert str(parse_jid(uri)) == "dev1@x.test"
    (record,) = [r for r in caplog.records if r.name == "xiot"]
    assert record.levelno == logging.WARNING and note in record.getMessage()


@pytest.mark.parametrize("uri,why", [
    ("xmpp:", "no address"),
    ("xmpp:?message", "no address"),
    ("xmpp://ops@x.test", "only an account"),
    ("xmpp:a%40b@x.test", "'@'"),
    ("xmpp:dev%ZZ@x.test", "two hex digits"),
    ("xmpp:%FF@x.test", "not UTF-8"),
    ("xmpp:%E2%80%AEx@x.test", "U+202E"),
])
def test_bad_uris_are_usage_errors(uri, why):
    with pytest.raises(UsageError) as info:
        parse_jid(uri)
    assert why in info.value.message
