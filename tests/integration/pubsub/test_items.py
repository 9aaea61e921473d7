"""Items on both lab servers: publish (file, stdin, JSON, lines, options), fetch, retract, PEP."""

from __future__ import annotations

from tests.integration.pubsub.test_nodes import ps


def _node(server, name: str, *config: str) -> str:  # type: ignore[no-untyped-def]
    node = server.node(name)
    made = ps(server, "create", node, *config)
    assert made.code == 0, made.stderr
    return node


def test_publish_from_a_file_and_stdin_then_fetch(server, tmp_path):
    node = _node(server, "items")
    payload = tmp_path / "reading.xml"
    payload.write_text('<reading xmlns="urn:example:t" unit="C">21.5</reading>')
    first = ps(server, "publish", node, str(payload), "--id", "r1")
    assert first.code == 0, first.stderr
    assert first.ndjson()[0]["id"] == "r1"
    second = ps(server, "publish", node, "-", stdin='<v xmlns="urn:x">2</v>')
    assigned = second.ndjson()[0]["id"]
    assert second.code == 0 and assigned and assigned != "r1"
    found = {r["id"]: r for r in ps(server, "items", node).ndjson()}
    assert found["r1"]["payload"] == '<reading xmlns="urn:example:t" unit="C">21.5</reading>'
    assert found[assigned]["payload"] == '<v xmlns="urn:x">2</v>'
    only = ps(server, "items", node, "--id", "r1").ndjson()
    assert [r["id"] for r in only] == ["r1"]
    newest = ps(server, "items", node, "--max", "1").ndjson()
    assert len(newest) == 1


def test_json_payloads_and_one_item_per_line(server):
    node = _node(server, "json")
    done = ps(server, "publish", node, "-", "--json", stdin='{"t": 21.5, "ok": true}')
    assert done.code == 0, done.stderr
    assert done.ndjson()[0]["json"] == {"t": 21.5, "ok": True}
    lines = ps(server, "publish", node, "-", "--json", "--lines",
               stdin='{"n": 1}\n\n{"n": 2}\n{"n": 3}\n')
    assert lines.code == 0, lines.stderr
    assert [r["json"] for r in lines.ndjson()] == [{"n": 1}, {"n": 2}, {"n": 3}]
    stored = [r["json"] for r in ps(server, "items", node).ndjson()]
    assert {"n": 3} in stored and {"t": 21.5, "ok": True} in stored
    assert all(r["payload"].startswith('<json xmlns="urn:xmpp:json:0">')
               for r in ps(server, "items", node).ndjson())


def test_bad_payloads_are_refused_and_nothing_is_published(server, tmp_path):
    node = _node(server, "badxml")
    cases = [
        (("-",), "<reading xmlns='urn:x'>21.5</reding>", "stdin is not well-formed XML"),
        (("-",), "<!DOCTYPE r [<!ENTITY x 'boom'>]><r>&x;</r>", "declares a DTD"),
        (("-",), "<a/><b/>", "not well-formed XML"),
        (("-", "--json"), "{'single': 'quotes'}", "stdin is not valid JSON"),
        (("-", "--lines"), "<ok/>\n<broken\n", "stdin:2 is not well-formed XML"),
        ((str(tmp_path / "missing.xml"),), "", "cannot read payload"),
    ]
    for args, stdin, says in cases:
        line = ps(server, "publish", node, *args, stdin=stdin).assert_clean_error(2)
        assert says in line, (args, line)
    assert ps(server, "items", node).ndjson() == []


def test_retract_reports_each_id_and_exits_1_when_some_fail(server):
    node = _node(server, "retract")
    for item in ("a", "b"):
        assert ps(server, "publish", node, "-", "--id", item, stdin="<v xmlns='urn:x'/>").code == 0
    done = ps(server, "retract", node, "a", "nope", "b")
    assert done.code == 1, done.stderr
    status = {r["target"]: r["status"] for r in done.ndjson()}
    assert status == {"a": "ok", "nope": "failed", "b": "ok"}
    assert "item 'nope' of node" in next(r["error"] for r in done.ndjson() if r["error"])
    assert ps(server, "items", node).ndjson() == []
    assert ps(server, "retract", node, "a").code == 1


def test_publish_options_are_preconditions(server):
    offered = {r["feature"] for r in ps(server, "features").ndjson()}
    node = _node(server, "popts", "--access", "open")
    matching = ps(server, "publish", node, "-", "--option", "access_model=open",
                  stdin="<v xmlns='urn:x'/>")
    if "publish-options" not in offered:
        assert "publish options" in matching.assert_clean_error(7)
        return
    assert matching.code == 0, matching.stderr
    wrong = ps(server, "publish", node, "-", "--option", "access_model=whitelist",
               stdin="<v xmlns='urn:x'/>")
    line = wrong.assert_clean_error(7)
    assert "refused to publish" in line
    bad = ps(server, "publish", node, "-", "--option", "access_model=nobody",
             stdin="<v xmlns='urn:x'/>")
    assert "cannot be 'nobody'" in bad.assert_clean_error(2)
    assert len(ps(server, "items", node).ndjson()) == 1


def test_a_device_publishes_only_once_it_is_a_publisher(server):
    node = _node(server, "pubaff")
    device = server.spare(2)
    as_device = server.env_as(device)
    refused = ps(server, "publish", node, "-", env=as_device, stdin="<v xmlns='urn:x'/>")
    assert "refused to publish" in refused.assert_clean_error(7)
    made = ps(server, "affiliations", node, "--set", f"{device.jid}=publisher")
    assert made.code == 0, made.stderr
    done = ps(server, "publish", node, "-", "--id", "from-device", env=as_device,
              stdin="<v xmlns='urn:x'>1</v>")
    assert done.code == 0, done.stderr
    assert [r["id"] for r in ps(server, "items", node).ndjson()] == ["from-device"]


def test_pep_publish_and_fetch_on_ones_own_account(server):
    node = server.node("urn:example:status")
    device = server.env_as(server.spare(3))
    done = ps(server, "publish", node, "-", "--pep", "--id", "current", env=device,
              stdin="<status xmlns='urn:example:status'>ok</status>")
    if done.code == 7 and "item-not-found" in done.stderr:
        assert ps(server, "create", node, "--pep", env=device).code == 0
        done = ps(server, "publish", node, "-", "--pep", "--id", "current", env=device,
                  stdin="<status xmlns='urn:example:status'>ok</status>")
    assert done.code == 0, done.stderr
    assert done.ndjson()[0]["service"] == server.spare(3).jid
    found = ps(server, "items", node, "--pep", env=device).ndjson()
    assert [r["id"] for r in found] == ["current"]
    assert "<status" in found[0]["payload"]
