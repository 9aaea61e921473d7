"""``xiot shell -c`` and ``xiot shell < script``: many commands, one login, first failure."""

from __future__ import annotations

import json

from tests.helpers import xiot


def test_commands_run_in_order_on_one_connection(fleet, lab_env):
    result = xiot("shell", "-c", "ping -o ndjson; readout dev0001@xiot.test -o ndjson",
                  env=lab_env)
    assert result.code == 0, result.stderr
    rows = [json.loads(line) for line in result.stdout.splitlines()]
    assert rows[0]["status"] == "ok" and "rtt_ms" in rows[0]
    assert {r["jid"] for r in rows[1:]} == {"dev0001@xiot.test/sim"}


def test_a_script_on_stdin_with_comments_and_the_use_context(fleet, lab_env):
    script = ("# check one device\n"
              "use dev0003@xiot.test\n"
              "readout -o ndjson   # from the context\n"
              "control set Output=true -o json\n")
    result = xiot("shell", env=lab_env, stdin=script)
    assert result.code == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0] == "device: dev0003@xiot.test"
    readings = [json.loads(line) for line in lines[1:] if line.startswith('{"jid"')]
    assert readings and {r["jid"] for r in readings} == {"dev0003@xiot.test/sim"}
    assert json.loads("\n".join(lines[1 + len(readings):]))["ok"] is True


def test_the_first_failure_stops_the_script_with_its_exit_code(fleet, lab_env):
    result = xiot("shell", "-c", "readout 'not a jid'; ping -o ndjson", env=lab_env)
    assert result.code == 2
    assert "malformed JID 'not a jid'" in result.stderr
    assert result.stdout == ""  # the ping never ran

    result = xiot("shell", "-c", "ping -o ndjson\nreadout dev0047@xiot.test -o ndjson\nping",
                  env=lab_env)
    assert result.code == 1  # dev0047 is offline: readout's own exit code
    assert len(result.stdout.splitlines()) == 2  # one ping, one failed readout row


def test_raw_sends_an_iq_and_shows_the_answer(lab_env, lab):
    result = xiot("shell", "-c",
                  "raw <iq type='get' to='xiot.test'><ping xmlns='urn:xmpp:ping'/></iq>",
                  env=lab_env)
    assert result.code == 0, result.stderr
    assert "type=\"result\"" in result.stdout and "from=\"xiot.test\"" in result.stdout

    result = xiot("shell", "-c", "raw <iq type='get'", env=lab_env)
    assert result.code == 2 and "unfinished stanza" in result.stderr


def test_help_in_a_script_shows_the_commands_own_help(lab_env, lab):
    result = xiot("shell", "-c", "help ping", env=lab_env)
    assert result.code == 0, result.stderr
    assert "Usage: xiot ping" in result.stdout and "Examples:" in result.stdout


def test_ctrl_c_stops_a_script_with_130(fleet, lab_env):
    import signal
    import subprocess
    import time

    from tests.helpers import xiot_command

    proc = subprocess.Popen([xiot_command(), "shell", "-c", "ping -c 100 -i 0.5 -o ndjson; ping"],
                            env=lab_env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True)
    try:
        assert proc.stdout is not None
        first = proc.stdout.readline()  # the first reply: the script is running
        assert '"status":"ok"' in first
        time.sleep(0.3)
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 130, err
    assert "interrupted" in err and "Traceback" not in err


def test_the_shell_is_not_nested(lab_env, lab):
    result = xiot("shell", "-c", "shell", env=lab_env)
    assert result.code == 2 and "already in the shell" in result.stderr


def test_use_a_service_and_cd_a_node_supply_them_to_pubsub_commands(lab_env, lab, tmp_path):
    import uuid

    node = f"shell-ctx-{uuid.uuid4().hex[:6]}"
    payload = tmp_path / "reading.xml"
    payload.write_text('<t xmlns="urn:example:t">21.5</t>')
    script = ("use pubsub.xiot.test\n"
              f"pubsub create {node} -o ndjson\n"
              f"cd {node}\n"
              f"pubsub publish {payload} --id first -o ndjson   # node and service: context\n"
              "pubsub items -o ndjson\n"
              "pubsub delete -o ndjson\n")
    result = xiot("shell", env=lab_env, stdin=script)
    assert result.code == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0] == "device: (none)  service: pubsub.xiot.test  node: (none)"
    assert f"device: (none)  service: pubsub.xiot.test  node: {node}" in lines
    records = [json.loads(line) for line in lines if line.startswith("{")]
    assert all(r.get("service") in (None, "pubsub.xiot.test") for r in records)
    assert any(r.get("id") == "first" and r.get("node") == node for r in records)
    assert records[-1]["action"] == "deleted" and records[-1]["node"] == node


def test_root_output_options_given_to_the_shell_apply_to_each_command(lab_env, lab):
    result = xiot("-o", "json", "shell", "-c", "ping; ping -o ndjson", env=lab_env)
    assert result.code == 0, result.stderr
    *document, line = result.stdout.splitlines()
    assert set(json.loads("\n".join(document))) == {"replies", "summary"}  # -o json
    assert json.loads(line)["status"] == "ok"  # the command's own -o ndjson wins
