"""``xiot pubsub`` input checked before any connection: one line, exit 2, nothing sent.

No server is involved: each command must refuse its input before it reads settings or
connects (the environment names no account at all).
"""

from __future__ import annotations

import pytest

from tests.helpers import xiot


@pytest.mark.parametrize(("args", "stdin", "says"), [
    (("publish", "n", "-"), "<reading>21.5</reding>", "stdin is not well-formed XML"),
    (("publish", "n", "-"), "<!DOCTYPE r [<!ENTITY e 'x'>]><r>&e;</r>", "declares a DTD"),
    (("publish", "n", "-", "--json"), "{nope}", "stdin is not valid JSON"),
    (("publish", "n", "-", "--lines", "--id", "x"), "<a/>\n<b/>", "--id names one item"),
    (("publish", "n", "--json"), "", "--json and --lines need a payload"),
    (("publish", "n", "/nonexistent/payload.xml"), "", "cannot read payload"),
    (("publish", "n", "-", "--option", "nokey"), "<a/>", "--option 'nokey' is not KEY=VALUE"),
    (("config", "set", "n", "--set", "justaname"), "", "--set 'justaname' is not KEY=VALUE"),
    (("list", "--service", "pubsub.x", "--pep"), "", "--service and --pep exclude each other"),
    (("list", "--service", "a@b@c"), "", "malformed JID"),
    (("affiliations", "n", "--set", "dev@x=king"), "", "'king' is not one of"),
    (("subscriptions", "n", "--set", "dev@x=maybe"), "", "'maybe' is not one of"),
    (("approve", "n", "not a jid@"), "", "malformed JID"),
    (("apply", "-"), "nodes: [a]", "must be a mapping with a 'nodes' mapping"),
    (("apply", "-"), '{"nodes": {"a": {"type": "tree"}}}', "type must be leaf or collection"),
    (("apply", "/nonexistent/nodes.yaml"), "", "cannot read /nonexistent/nodes.yaml"),
])
def test_bad_input_is_refused_before_connecting(args, stdin, says):
    done = xiot("pubsub", *args, stdin=stdin)
    line = done.assert_clean_error(2)
    assert says in line, line


def test_help_names_the_exit_codes_and_the_json_container():
    top = xiot("pubsub", "--help")
    assert top.code == 0 and "2 bad input" in top.stdout and "7 the server refused" in top.stdout
    publish = xiot("pubsub", "publish", "--help")
    assert 'urn:xmpp:json:0' in publish.stdout
    watch = xiot("pubsub", "watch", "--help")
    assert "--count" in watch.stdout and "--duration" in watch.stdout and "exits 6" in watch.stdout
