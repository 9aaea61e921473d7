"""``xiot pubsub watch`` on both lab servers: the events as NDJSON, the live view on a terminal."""

from __future__ import annotations

import json
import subprocess
import time

from tests.helpers import xiot_command
from tests.integration.pubsub.test_items import _node
from tests.integration.pubsub.test_nodes import ps
from tests.terminal import Terminal


class Watcher:
    """``xiot pubsub watch`` running in the background; ready once it has subscribed."""

    def __init__(self, server, node: str, *args: str, watchers: int = 1
                 ) -> None:  # type: ignore[no-untyped-def]
        self.proc = subprocess.Popen([xiot_command(), "pubsub", "watch", node, *args],
                                     stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                     text=True, env=server.env)
        wait_subscribed(server, node, self.proc, watchers)

    def finish(self, timeout: float = 30) -> tuple[int, list[dict], str]:
        out, err = self.proc.communicate(timeout=timeout)
        return self.proc.returncode, [json.loads(x) for x in out.splitlines() if x], err


def wait_subscribed(server, node: str, proc=None, watchers: int = 1
                    ) -> None:  # type: ignore[no-untyped-def]
    """Until ``watchers`` sessions of the admin are subscribed to ``node``: they listen."""
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        found = ps(server, "subscriptions", node).ndjson()
        if sum(r["subscription"] == "subscribed" for r in found) >= watchers:
            return
        assert proc is None or proc.poll() is None, proc.communicate()
        time.sleep(0.1)
    raise AssertionError(f"the watch never subscribed to {node}")


def _fields(server, node: str) -> set[str]:  # type: ignore[no-untyped-def]
    return {r["field"] for r in ps(server, "config", "get", node).ndjson()}


def test_item_retract_purge_config_and_delete_events_in_order(server):
    node, new = _node(server, "watched"), _node(server, "next")
    fields = _fields(server, node)
    settings = ["--notify-retract", "--notify-delete"]
    config_events = "pubsub#notify_config" in fields
    if config_events:
        settings.append("--notify-config")
    assert ps(server, "config", "set", node, *settings).code == 0
    expected = ["item", "item", "retract", "purge"] + (["config"] if config_events else []) + \
        ["delete"]
    watcher = Watcher(server, node, "--count", str(len(expected)), "--duration", "60")
    assert ps(server, "publish", node, "-", "--id", "a", stdin="<v xmlns='urn:x'>1</v>").code == 0
    assert ps(server, "publish", node, "-", "--json", "--id", "b", stdin='{"v": 2}').code == 0
    assert ps(server, "retract", node, "a").code == 0
    assert ps(server, "purge", node).code == 0
    if config_events:
        assert ps(server, "config", "set", node, "--title", "Renamed").code == 0
    assert ps(server, "delete", node, "--redirect", new).code == 0
    code, events, err = watcher.finish()
    assert code == 0, err
    assert [e["event"] for e in events] == expected
    assert {e["node"] for e in events} == {node} and {e["service"] for e in events} == {
        server.service}
    assert events[0]["id"] == "a" and events[0]["payload"] == '<v xmlns="urn:x">1</v>'
    assert events[1]["json"] == {"v": 2}
    assert events[2]["id"] == "a"
    # Neither lab server passes the redirect on in its delete event (both drop it).
    assert events[-1]["redirect"] in (None, f"xmpp:{server.service}?;node={new}")
    assert set(events[0]) == {"time", "service", "node", "event", "id", "publisher",
                              "payload", "json", "redirect", "delay"}


def test_watch_subscribes_for_itself_and_leaves_no_subscription(server):
    node = _node(server, "tidy")
    watcher = Watcher(server, node, "--count", "1", "--duration", "60")
    found = ps(server, "subscriptions", node).ndjson()
    assert [r["jid"].split("/")[0] for r in found] == [server.lab.admin_jid]
    assert "/" in found[0]["jid"]  # this session's own subscription, not the account's
    again = Watcher(server, node, "--count", "1", "--duration", "60", watchers=2)
    assert ps(server, "publish", node, "-", stdin="<v xmlns='urn:x'/>").code == 0
    code, events, err = watcher.finish()
    assert code == 0 and len(events) == 1, err
    code, events, err = again.finish()  # a subscription of its own: the event once
    assert code == 0 and len(events) == 1, err
    assert ps(server, "subscriptions", node).ndjson() == []


def test_count_not_reached_within_duration_exits_6(server):
    node = _node(server, "quiet")
    line = ps(server, "watch", node, "--count", "2", "--duration", "1").assert_clean_error(6)
    assert "0 of 2 events within 1s" in line
    plain = ps(server, "watch", node, "--duration", "1")
    assert plain.code == 0 and plain.stdout == ""


def test_watching_a_missing_node_is_exit_7(server):
    line = ps(server, "watch", "no-such-node", "--duration", "5").assert_clean_error(7)
    assert "no-such-node" in line


def test_live_view_on_a_terminal(server):
    node = _node(server, "live")
    argv = [xiot_command(), "pubsub", "watch", node, "--count", "2", "--duration", "60"]
    with Terminal(argv, env=server.env) as term:
        term.wait_for("for this watch")
        wait_subscribed(server, node)
        for n in (1, 2):
            ps(server, "publish", node, "-", "--id", f"reading-{n}",
               stdin=f"<t xmlns='urn:x'>{n}0.5</t>")
            time.sleep(0.2)
        screen = term.wait_for("EXIT=0")
    assert "xiot pubsub watch: 2 events" in screen
    assert node in screen and "reading-2" in screen and '<t xmlns="urn:x">20.5</t>' in screen
    assert "{" not in screen.split("EXIT=")[0].split("xiot pubsub watch")[0]


def test_watch_a_pep_node_of_ones_own(server):
    device = server.spare(4)
    env = server.env_as(device)
    node = server.node("urn:example:mood")
    made = ps(server, "create", node, "--pep", env=env)
    assert made.code == 0, made.stderr
    watch = subprocess.Popen([xiot_command(), "pubsub", "watch", node, "--pep", "--count", "1",
                              "--duration", "60"], stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE, text=True, env=env)
    deadline = time.monotonic() + 30
    while not ps(server, "subscriptions", node, "--pep", env=env).ndjson():
        assert time.monotonic() < deadline and watch.poll() is None, watch.communicate()
        time.sleep(0.1)
    assert ps(server, "publish", node, "-", "--pep", "--id", "now", env=env,
              stdin="<mood xmlns='urn:example:mood'>calm</mood>").code == 0
    out, err = watch.communicate(timeout=60)
    assert watch.returncode == 0, err
    (event,) = [json.loads(line) for line in out.splitlines()]
    assert (event["service"], event["node"], event["id"]) == (device.jid, node, "now")
