"""Subscriptions and affiliations on both lab servers, and the pending-approval flow."""

from __future__ import annotations

from tests.helpers import xiot
from tests.integration.pubsub.test_items import _node
from tests.integration.pubsub.test_nodes import ps


def _features(server) -> set[str]:  # type: ignore[no-untyped-def]
    return {r["feature"] for r in ps(server, "features").ndjson()}


def test_subscribe_list_and_unsubscribe(server):
    node = _node(server, "subs")
    device = server.spare(1)
    as_device = server.env_as(device)
    done = ps(server, "subscribe", node, env=as_device)
    assert done.code == 0, done.stderr
    assert done.ndjson()[0] | {"subid": None} == {
        "service": server.service, "node": node, "jid": device.jid,
        "subscription": "subscribed", "subid": None}
    mine = ps(server, "subscriptions", node, env=as_device).ndjson()
    assert [(r["node"], r["jid"], r["subscription"]) for r in mine] == [
        (node, device.jid, "subscribed")]
    owners_view = ps(server, "subscriptions", node, "--owner").ndjson()
    assert device.jid in {r["jid"].split("/")[0] for r in owners_view}
    gone = ps(server, "unsubscribe", node, env=as_device)
    assert gone.code == 0 and gone.ndjson()[0]["subscription"] == "none"
    assert ps(server, "subscriptions", node, env=as_device).ndjson() == []


def test_owner_sets_and_removes_a_subscription(server):
    node = _node(server, "ownsubs")
    device = server.spare(2)
    if "manage-subscriptions" not in _features(server):
        line = ps(server, "subscriptions", node, "--set",
                  f"{device.jid}=subscribed").assert_clean_error(7)
        assert "managing subscriptions as owner" in line
        return
    assert ps(server, "subscribe", node, env=server.env_as(device)).code == 0
    removed = ps(server, "subscriptions", node, "--set", f"{device.jid}=none")
    assert removed.code == 0, removed.stderr
    assert removed.ndjson()[0]["status"] == "ok"
    assert device.jid not in {r["jid"] for r in ps(server, "subscriptions", node,
                                                     "--owner").ndjson()}


def test_subscription_options_where_offered(server):
    node = _node(server, "subopts")
    done = ps(server, "subscribe", node, "--option", "deliver=false",
              env=server.env_as(server.spare(3)))
    if "subscription-options" not in _features(server):
        assert "subscription options" in done.assert_clean_error(7)
        return
    assert done.code == 0, done.stderr


def test_affiliations_owner_view_set_and_features(server):
    node = _node(server, "affs")
    offered = _features(server)
    device, other = server.spare(4), server.spare(5)
    owners = {r["jid"]: r["affiliation"] for r in
              ps(server, "affiliations", node, "--owner").ndjson()}
    assert owners == {server.lab.admin_jid: "owner"}
    done = ps(server, "affiliations", node, "--set", f"{device.jid}=publisher",
              "--set", f"{other.jid}=outcast")
    assert done.code == 0, done.stderr
    owners = {r["jid"]: r["affiliation"] for r in
              ps(server, "affiliations", node, "--owner").ndjson()}
    assert owners[device.jid] == "publisher" and owners[other.jid] == "outcast"
    publish_only = ps(server, "affiliations", node, "--set", f"{device.jid}=publish-only")
    if "publish-only-affiliation" in offered:
        assert publish_only.code == 0, publish_only.stderr
    else:
        assert "publish-only affiliation" in publish_only.assert_clean_error(7)
    mine = ps(server, "affiliations", env=server.env_as(device))
    if "retrieve-affiliations" in offered:
        assert mine.code == 0, mine.stderr
        assert node in {r["node"] for r in mine.ndjson()}
    else:
        assert "listing one's affiliations" in mine.assert_clean_error(7)
    reset = ps(server, "affiliations", node, "--set", f"{device.jid}=none",
               "--set", f"{other.jid}=none")
    assert reset.code == 0, reset.stderr


def test_bad_affiliation_input_is_exit_2(server):
    node = _node(server, "badaff")
    for args, says in ((("--set", "dev0001@xiot.test=boss"), "'boss' is not one of"),
                       (("--set", "nobody"), "is not JID=VALUE"),
                       (("--set", "@@=owner"), "malformed JID")):
        line = ps(server, "affiliations", node, *args).assert_clean_error(2)
        assert says in line, line
    assert "--set needs a NODE" in ps(server, "affiliations", "--set",
                                      "dev0001@xiot.test=member").assert_clean_error(2)


def test_pending_subscription_is_approved_by_the_owner(server):
    offered = _features(server)
    node = server.node("authz")
    made = ps(server, "create", node, "--access", "authorize")
    if "access-authorize" not in offered:
        assert "the authorize access model" in made.assert_clean_error(7)
        if "manage-subscriptions" not in offered:
            plain = _node(server, "noauthz")
            line = ps(server, "approve", plain).assert_clean_error(7)
            assert "managing subscriptions as owner" in line
        return
    assert made.code == 0, made.stderr
    device = server.spare(1)
    asked = ps(server, "subscribe", node, env=server.env_as(device))
    assert asked.code == 0, asked.stderr
    assert asked.ndjson()[0]["subscription"] == "pending"
    assert "awaits the owner's approval" in asked.stderr
    unknown = ps(server, "approve", node, server.spare(2).jid)
    assert unknown.code == 1 and "no pending subscription" in unknown.ndjson()[0]["error"]
    done = ps(server, "approve", node)
    assert done.code == 0, done.stderr
    assert [(r["target"], r["status"]) for r in done.ndjson()] == [(device.jid, "ok")]
    mine = ps(server, "subscriptions", node, env=server.env_as(device)).ndjson()
    assert [r["subscription"] for r in mine] == ["subscribed"]
    nothing = ps(server, "approve", node)
    assert nothing.code == 0 and "no subscription" in nothing.stderr


def test_a_service_wide_list_that_never_comes_names_the_way_around(server):
    if server.kind != "prosody":
        return  # ejabberd answers; the hint is for servers that do not
    node = _node(server, "gone")
    device = server.env_as(server.spare(5))
    assert ps(server, "subscribe", node, env=device).code == 0
    assert ps(server, "delete", node).code == 0
    done = xiot("--timeout", "2", "pubsub", "subscriptions", "-o", "ndjson", env=device)
    if done.code == 0:
        return  # a Prosody that answers (fixed after 0.12.3)
    line = done.assert_clean_error(6)
    assert "ask node by node: 'xiot pubsub subscriptions NODE'" in line
