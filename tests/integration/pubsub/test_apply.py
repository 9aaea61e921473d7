"""``xiot pubsub apply`` on both lab servers: plan, apply, idempotence, nothing half-applied."""

from __future__ import annotations

import json

from tests.integration.pubsub.test_nodes import ps


def _spec(nodes: dict) -> str:
    return json.dumps({"nodes": nodes})


def _nodes(server) -> set[str]:  # type: ignore[no-untyped-def]
    return {r["node"] for r in ps(server, "list").ndjson()}


def test_dry_run_apply_and_a_second_run_that_changes_nothing(server, tmp_path):
    a, b = server.node("fleet"), server.node("fleet")
    device = server.spare(1).jid
    spec = tmp_path / "nodes.yaml"
    spec.write_text(f"""nodes:
  {a}:
    config: {{title: Fleet, access: open, max_items: 10}}
    affiliations: {{{device}: publisher}}
  {b}:
    config: {{persist: false}}
""")
    dry = ps(server, "apply", str(spec), "--dry-run")
    assert dry.code == 0, dry.stderr
    assert [(r["action"], r["node"], r["status"]) for r in dry.ndjson()] == [
        ("create", a, "planned"), ("affiliate", a, "planned"), ("create", b, "planned")]
    assert not {a, b} & _nodes(server)
    done = ps(server, "apply", str(spec))
    assert done.code == 0, done.stderr
    assert {r["status"] for r in done.ndjson()} == {"done"}
    fields = {r["field"]: r["value"] for r in ps(server, "config", "get", a).ndjson()}
    assert fields["pubsub#title"] == "Fleet" and str(fields["pubsub#max_items"]) == "10"
    owners = {r["jid"]: r["affiliation"] for r in
              ps(server, "affiliations", a, "--owner").ndjson()}
    assert owners[device] == "publisher"
    again = ps(server, "apply", str(spec))
    assert again.code == 0 and again.ndjson() == []
    assert "nothing to change" in again.stderr
    spec.write_text(spec.read_text().replace("max_items: 10", "max_items: 12"))
    changed = ps(server, "apply", str(spec))
    assert [(r["action"], r["detail"], r["status"]) for r in changed.ndjson()] == [
        ("configure", "max_items: 10 -> 12", "done")]


def test_json_from_stdin_and_prune(server):
    node = server.node("prune")
    one, two = server.spare(2).jid, server.spare(3).jid
    spec = _spec({node: {"affiliations": {one: "publisher", two: "member"}}})
    assert ps(server, "apply", "-", stdin=spec).code == 0
    keep_one = _spec({node: {"affiliations": {one: "publisher"}}})
    assert ps(server, "apply", "-", stdin=keep_one).ndjson() == []
    pruned = ps(server, "apply", "-", "--prune", stdin=keep_one)
    assert pruned.code == 0, pruned.stderr
    assert [r["detail"] for r in pruned.ndjson()] == [f"{two}: member -> none"]


def test_bad_descriptions_are_refused_before_anything_is_sent(server):
    first = server.node("first")
    cases = [
        ("nodes: [a, b]", "must be a mapping with a 'nodes' mapping"),
        ("nodes: {x: {colour: red}}", "unknown key(s) colour"),
        ("nodes: {x: {type: folder}}", "type must be leaf or collection"),
        ("nodes: {x: {affiliations: {dev@x: boss}}}", "affiliation 'boss'"),
        ("nodes: {x: {config: {max_items: 5}}\n  bad", "is not valid YAML/JSON"),
        (_spec({first: {"config": {"title": "ok"}}, server.node("second"): {
            "config": {"pubsub#no_such_field": 1}}}),
         "unknown configuration field 'pubsub#no_such_field'"),
        (_spec({first: {}, server.node("second"): {"config": {"max_items": "many"}}}),
         "takes a whole number or max"),
    ]
    for text, says in cases:
        line = ps(server, "apply", "-", stdin=text).assert_clean_error(2)
        assert says in line, (text, line)
    assert first not in _nodes(server)


def test_a_refusal_midway_undoes_what_was_done(server):
    created, refused = server.node("undo"), server.node("refused")
    existing = server.node("kept")
    assert ps(server, "create", existing, "--title", "Before").code == 0
    # Each server refuses something its own form offers: Prosody 0.12 the presence access
    # model on a service node (not-acceptable), ejabberd a max_items above its cap (1000).
    failing = {"config": {"access": "presence"}} if server.kind == "prosody" else \
        {"config": {"max_items": 5000}}
    spec = _spec({created: {"config": {"title": "New"}},
                  existing: {"config": {"title": "After"}},
                  refused: failing,
                  server.node("never"): {}})
    done = ps(server, "apply", "-", stdin=spec)
    assert done.code == 7, done.stderr
    line = [x for x in done.stderr.splitlines() if x.strip()]
    assert len(line) == 1 and line[0].startswith("xiot: apply stopped at step")
    assert "earlier step(s) undone" in line[0]
    statuses = [(r["action"], r["node"], r["status"]) for r in done.ndjson()]
    failed_at = next(i for i, s in enumerate(statuses) if s[2] == "failed")
    assert statuses[0] == ("create", created, "undone")
    assert statuses[1] == ("configure", existing, "undone")
    assert statuses[failed_at][1] == refused
    assert all(s[2] == "skipped" for s in statuses[failed_at + 1:])
    assert created not in _nodes(server) and refused not in _nodes(server)
    fields = {r["field"]: r["value"] for r in ps(server, "config", "get", existing).ndjson()}
    assert fields["pubsub#title"] == "Before"
