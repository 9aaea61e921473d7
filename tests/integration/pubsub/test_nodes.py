"""Nodes on both lab servers: list, info, create, config get/set/default, purge, delete."""

from __future__ import annotations

import pytest

from tests.helpers import xiot

NS = "http://jabber.org/protocol/pubsub#"


def ps(server, *args: str, env: dict | None = None, stdin: str = ""):  # type: ignore[no-untyped-def]
    return xiot("pubsub", *args, "-o", "ndjson", env=env or server.env, stdin=stdin)


def test_features_name_what_the_service_offers(server):
    done = ps(server, "features")
    assert done.code == 0, done.stderr
    offered = {r["feature"] for r in done.ndjson()}
    assert {"publish", "subscribe", "create-nodes"} <= offered
    assert {r["service"] for r in done.ndjson()} == {server.service}


def test_create_info_list_and_delete(server):
    node = server.node("plain")
    made = ps(server, "create", node, "--title", "Kitchen", "--access", "open")
    assert made.code == 0, made.stderr
    assert made.ndjson() == [{"service": server.service, "node": node, "type": "leaf",
                              "action": "created"}]
    info = ps(server, "info", node).ndjson()[0]
    assert info["type"] == "leaf" and info["title"] == "Kitchen"
    assert node in {r["node"] for r in ps(server, "list").ndjson()}
    again = ps(server, "create", node)
    assert "already exists" in again.assert_clean_error(7)
    gone = ps(server, "delete", node)
    assert gone.code == 0 and gone.ndjson()[0]["action"] == "deleted"
    assert node not in {r["node"] for r in ps(server, "list").ndjson()}


def test_instant_node_gets_a_name_from_the_service(server):
    made = ps(server, "create")
    if made.code == 7 and "instant" in made.stderr:
        pytest.skip(f"{server.kind}: no instant nodes")
    assert made.code == 0, made.stderr
    node = made.ndjson()[0]["node"]
    assert node
    assert ps(server, "delete", node).code == 0


def test_config_get_set_and_default_are_typed(server):
    node = server.node("conf")
    assert ps(server, "create", node, "--max-items", "7").code == 0
    fields = {r["field"]: r for r in ps(server, "config", "get", node).ndjson()}
    assert str(fields["pubsub#max_items"]["value"]) == "7"
    assert fields["pubsub#persist_items"]["value"] in (True, False)
    assert "whitelist" in fields["pubsub#access_model"]["options"]
    changed = ps(server, "config", "set", node, "--access", "whitelist", "--no-persist",
                 "--set", "max_items=9")
    assert changed.code == 0, changed.stderr
    assert {r["field"]: r["value"] for r in changed.ndjson()} == {
        "pubsub#access_model": "whitelist", "pubsub#persist_items": False,
        "pubsub#max_items": 9}
    fields = {r["field"]: r["value"] for r in ps(server, "config", "get", node).ndjson()}
    assert fields["pubsub#access_model"] == "whitelist"
    assert fields["pubsub#persist_items"] is False
    same = ps(server, "config", "set", node, "--access", "whitelist")
    assert same.code == 0 and same.ndjson() == [] and "nothing sent" in same.stderr
    default = ps(server, "config", "default")
    assert default.code == 0, default.stderr
    assert "pubsub#access_model" in {r["field"] for r in default.ndjson()}
    assert all(r["node"] is None for r in default.ndjson())


@pytest.mark.parametrize(("args", "says"), [
    (("--set", "pubsub#no_such_field=1"), "unknown configuration field 'pubsub#no_such_field'"),
    (("--max-items", "lots"), "pubsub#max_items takes a whole number or max, not 'lots'"),
    (("--set", "persist_items=maybe"), "pubsub#persist_items takes true or false"),
    (("--access", "secret"), "pubsub#access_model cannot be 'secret'"),
    (("--set", "title"), "is not KEY=VALUE"),
])
def test_bad_configuration_is_refused_before_sending(server, args, says):
    node = server.node("bad")
    assert ps(server, "create", node).code == 0
    before = ps(server, "config", "get", node).ndjson()
    refused = ps(server, "config", "set", node, *args)
    assert says in refused.assert_clean_error(2)
    assert ps(server, "config", "get", node).ndjson() == before
    created = ps(server, "create", server.node("never"), *args)
    created.assert_clean_error(2)


def test_missing_node_is_one_line_and_exit_7(server):
    for args in (("info", "no-such-node"), ("config", "get", "no-such-node"),
                 ("items", "no-such-node"), ("purge", "no-such-node"),
                 ("delete", "no-such-node")):
        line = ps(server, *args).assert_clean_error(7)
        assert "'no-such-node'" in line and "does not exist" in line, (args, line)


def test_a_device_may_not_delete_the_admins_node(server):
    node = server.node("owned")
    assert ps(server, "create", node).code == 0
    device = server.env_as(server.spare(1))
    line = ps(server, "delete", node, env=device).assert_clean_error(7)
    assert "refused" in line and node in line
    assert node in {r["node"] for r in ps(server, "list").ndjson()}


def test_purge_empties_the_node(server):
    node = server.node("purge")
    assert ps(server, "create", node).code == 0
    for n in range(3):
        assert ps(server, "publish", node, "-", "--id", f"i{n}",
                  stdin=f"<v xmlns='urn:x'>{n}</v>").code == 0
    assert len(ps(server, "items", node).ndjson()) == 3
    assert ps(server, "purge", node).code == 0
    assert ps(server, "items", node).ndjson() == []


def test_collections_where_offered_else_one_line_naming_the_feature(server):
    offered = {r["feature"] for r in ps(server, "features").ndjson()}
    parent, leaf = server.node("coll"), server.node("leaf")
    made = ps(server, "create", parent, "--collection-node")
    if "collections" not in offered:
        line = made.assert_clean_error(7)
        assert "does not support collection nodes (XEP-0248)" in line
        member = ps(server, "create", leaf, "--collection", parent)
        assert "collection nodes (XEP-0248)" in member.assert_clean_error(7)
        return
    assert made.code == 0, made.stderr
    assert ps(server, "info", parent).ndjson()[0]["type"] == "collection"
    assert ps(server, "create", leaf, "--collection", parent).code == 0
    tree = {r["node"]: r for r in ps(server, "list", "--tree").ndjson()}
    assert tree[parent]["type"] == "collection"
    if tree.get(leaf, {}).get("parent") != parent:
        pytest.skip(f"{server.kind} advertises pubsub#collections but lists no children of "
                    "a collection node (XEP-0248 association)")
    assert tree[leaf]["depth"] == tree[parent]["depth"] + 1


def test_delete_with_redirect_tells_watchers(server):
    node, new = server.node("old"), server.node("new")
    assert ps(server, "create", node, "--notify-delete").code == 0
    assert ps(server, "create", new).code == 0
    deleted = ps(server, "delete", node, "--redirect", new)
    assert deleted.code == 0, deleted.stderr
    assert deleted.ndjson()[0]["redirect"] == new


def test_control_characters_are_refused_not_sent(server):
    node = server.node("ctl")
    line = ps(server, "create", node + "\x01").assert_clean_error(2)
    assert "control character" in line
    assert ps(server, "create", node).code == 0
    line = ps(server, "config", "set", node, "--title", "a\x02b").assert_clean_error(2)
    assert "control character" in line
    assert ps(server, "info", node).code == 0  # the stream was never closed on us
