"""``xiot sim run --publish`` on both lab servers, and the PubSub round trip in ``xiot demo``."""

from __future__ import annotations

import os

from tests.helpers import xiot
from tests.integration.pubsub.test_nodes import ps


def _accounts_csv(server, tmp_path, *numbers: int):  # type: ignore[no-untyped-def]
    path = tmp_path / "devices.csv"
    rows = [server.spare(n) for n in numbers]
    path.write_text("jid,password,kind\n" + "".join(
        f"{a.jid},{a.password},thermometer\n" for a in rows))
    return path, rows


def test_each_device_publishes_its_readings_to_a_node_of_its_own(server, tmp_path):
    path, devices = _accounts_csv(server, tmp_path, 4, 5)
    prefix = server.node("sim")
    done = xiot("sim", "run", "--accounts", str(path), "--publish", prefix + "/{user}",
                "--publish-interval", "0.3", "--duration", "3", "-o", "ndjson",
                env=server.env, timeout=60)
    assert done.code == 0, done.stderr
    events = done.ndjson()
    assert not [e for e in events if e["event"] == "publish-error"], events
    for device in devices:
        node = f"{prefix}/{device.jid.split('@')[0]}"
        published = [e for e in events if e["event"] == "published"
                     and e["detail"].startswith(node + " ")]
        assert published, (node, events)
        stored = ps(server, "items", node).ndjson()
        assert stored and '<fields xmlns="urn:xmpp:iot:sensordata"' in stored[-1]["payload"]
        assert 'name="Temperature"' in stored[-1]["payload"]
        owners = {r["jid"]: r["affiliation"]
                  for r in ps(server, "affiliations", node, "--owner").ndjson()}
        assert owners.get(device.jid) in ("publisher", "owner")


def test_devices_share_one_node(server, tmp_path):
    path, devices = _accounts_csv(server, tmp_path, 4, 5)
    node = server.node("shared")
    done = xiot("sim", "run", "--accounts", str(path), "--publish", node,
                "--publish-interval", "0.3", "--duration", "3", "-o", "ndjson",
                env=server.env, timeout=60)
    assert done.code == 0, done.stderr
    publishers = {e["jid"].split("/")[0] for e in done.ndjson() if e["event"] == "published"}
    assert publishers == {d.jid for d in devices}
    assert len(ps(server, "items", node).ndjson()) >= 2


def test_a_bad_node_template_is_exit_2(server, tmp_path):
    path, _ = _accounts_csv(server, tmp_path, 4)
    line = xiot("sim", "run", "--accounts", str(path), "--publish", "x/{device}",
                "--duration", "1", env=server.env).assert_clean_error(2)
    assert "is not a node template" in line


def test_demo_shows_a_pubsub_round_trip(lab):
    env = dict(os.environ)
    done = xiot("demo", "--devices", "5", "-o", "ndjson", env=env, timeout=120)
    assert done.code == 0, done.stderr
    step = next(r for r in done.ndjson() if r["name"] == "pubsub round trip")
    assert step["ok"], step
    assert "published its readings to node xiot-demo/" in step["detail"]
    assert "the operator's watch had item" in step["detail"]
