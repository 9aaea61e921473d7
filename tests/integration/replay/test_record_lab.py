"""``xiot replay record`` against the lab: record, then replay what was recorded."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
from pathlib import Path

import yaml

from tests.helpers import xiot, xiot_command

SESSION = """\
# two actors: a roster get, a ping, a message, a ping between them, a readout
raw <iq type='get' id='r1'><query xmlns='jabber:iq:roster'/></iq>
ping ${dev.domain}
admin: raw <message to='${dev.full_jid}'><body>hello
device</body></message>
wait 0.3
dev: raw <iq type='get' to='${admin.full_jid}'><ping xmlns='urn:xmpp:ping'/></iq>
readout dev0002@${admin.domain}/sim
disconnect dev
"""


def _record(tmp_path: Path, lab_env: dict, stdin: str, *extra: str):
    out = tmp_path / "recorded.yaml"
    done = xiot("replay", "record", "-a", "admin", "-a", "dev=account:dev0001",
                "--lab", "testlab", "-o", str(out), "--settle", "0.3", *extra,
                env=lab_env, stdin=stdin)
    return done, out


def test_record_then_replay_round_trip(tmp_path, lab_env, fleet):
    done, out = _record(tmp_path, lab_env, SESSION)
    assert done.code == 0, done.stderr
    assert "recorded " in done.stderr and f"to {out}" in done.stderr
    text = out.read_text()
    scenario = yaml.safe_load(text)
    assert scenario["actors"] == {"admin": None, "dev": {"account": "dev0001"}}
    kinds = [next(iter(step)) for step in scenario["steps"]]
    assert kinds[:2] == ["connect", "connect"] and kinds[-1] == "disconnect"
    # JIDs are variables: no resource of this recording is left in the file
    assert "/record-" not in text
    assert "${dev.full_jid}" in text and "${admin.full_jid}" in text
    assert "dev0002@${admin.domain}/sim" in text
    # ids the actors chose are named after the payload; the server's roster version and the
    # sensor values and times of the readout are wildcards
    assert "id='roster-1'" in text and "id='ping-1'" in text
    assert "ver='{any}'" in text
    assert "value='{any}'" in text
    # the admin's own answer to dev's ping is left out: the replaying client answers too
    assert text.count("<ping xmlns='urn:xmpp:ping'/>") == 3  # 2 sent + 1 received
    replayed = xiot("replay", "run", str(out), "--lab", "testlab", "-o", "json", env=lab_env)
    assert replayed.code == 0, replayed.stdout + replayed.stderr
    assert json.loads(replayed.stdout)[0]["status"] == "ok"


def test_passwords_are_redacted(tmp_path, lab_env, lab_accounts):
    password = lab_accounts["dev0003"].password
    stdin = ("raw <iq type='set' id='reg'><query xmlns='jabber:iq:register'>"
             f"<username>dev0003</username><password>{password}</password></query></iq>\n")
    done, out = _record(tmp_path, lab_env, stdin)
    text = out.read_text()
    assert password not in text and password not in done.stdout + done.stderr
    assert "<password>REDACTED</password>" in text


def test_a_failing_piped_command_stops_the_recording_and_keeps_it(tmp_path, lab_env):
    stdin = "ping ${admin.domain}\nreadout nobody@nowhere.invalid --timeout 1\nping\n"
    done, out = _record(tmp_path, lab_env, stdin)
    assert done.code not in (0, 2), done.stderr
    text = out.read_text()
    assert text.count("<ping xmlns='urn:xmpp:ping'/>") == 1  # the first ping, nothing after


def _recording_a_ping(out: Path, env: dict) -> subprocess.Popen:
    """A recorder whose stdin stays open, once a ping and its answer are in ``out``."""
    process = subprocess.Popen(
        [xiot_command(), "replay", "record", "-a", "admin", "-o", str(out)],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        env=env)
    assert process.stdin is not None
    process.stdin.write("ping ${admin.domain}\n")
    process.stdin.flush()
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and not (
            out.exists() and "type='result'" in out.read_text()):
        time.sleep(0.1)
    if not out.exists():
        process.kill()
        raise AssertionError("nothing was written while the recording ran")
    return process


def test_ctrl_c_keeps_what_was_recorded(tmp_path, lab_env):
    out = tmp_path / "interrupted.yaml"
    process = _recording_a_ping(out, lab_env)
    try:
        process.send_signal(signal.SIGINT)
        _, stderr = process.communicate(timeout=30)
    finally:
        if process.poll() is None:
            process.kill()
    assert process.returncode == 130, stderr
    assert "recorded 2 stanzas of 1 actor" in stderr
    assert "Traceback" not in stderr
    steps = yaml.safe_load(out.read_text())["steps"]
    assert [next(iter(step)) for step in steps] == ["connect", "send", "expect"]
    assert not any(p.name.endswith(".tmp") for p in out.parent.iterdir())


def test_bad_input_is_a_usage_error(tmp_path, lab_env):
    existing = tmp_path / "there.yaml"
    existing.write_text("keep me")
    done = xiot("replay", "record", "-o", str(existing), env=lab_env)
    assert done.assert_clean_error(2).startswith(f"xiot: {existing} exists")
    assert existing.read_text() == "keep me"
    done = xiot("replay", "record", "-a", "a=b=c=", "-a", "x y", "-o",
                str(tmp_path / "n.yaml"), env=lab_env)
    assert done.code == 2 and "--actor 'x y'" in done.stderr
    done = xiot("replay", "record", "-a", "a", "-a", "a", "-o", str(tmp_path / "n.yaml"),
                env=lab_env)
    assert "given twice" in done.assert_clean_error(2)
    done, out = _record(tmp_path, lab_env, "zed: ping\n")
    assert done.code == 2 and "no actor 'zed'" in done.stderr
    assert os.path.exists(out)


def test_a_lost_connection_is_said_and_the_recording_kept(tmp_path, lab_env):
    from xiot.lab import manager

    manager.up(name="recordlost", devices=1)
    out = tmp_path / "lost.yaml"
    process = _recording_a_ping(out, dict(lab_env, XIOT_PROFILE="recordlost"))
    try:
        assert process.stdin is not None
        manager.down("recordlost")
        time.sleep(1.5)  # the recorder notices within its flush interval
        process.stdin.write("ping ${admin.domain}\n")
        process.stdin.flush()
        _, stderr = process.communicate(timeout=30)
    finally:
        if process.poll() is None:
            process.kill()
        manager.down("recordlost")
    assert process.returncode == 4, stderr
    assert "admin's connection was lost" in stderr and str(out) in stderr
    assert "Traceback" not in stderr
    steps = yaml.safe_load(out.read_text())["steps"]
    assert [next(iter(step)) for step in steps] == ["connect", "send", "expect"]


def test_lab_accounts_of_an_open_lab_record_and_replay_without_tls(tmp_path, lab_env,
                                                                   open_lab):
    env = dict(lab_env, XIOT_PROFILE="openlab")
    out = tmp_path / "open.yaml"
    done = xiot("replay", "record", "-a", "admin", "-a", "dev=account:dev0001", "--lab",
                "openlab", "-o", str(out), "--settle", "0.2",
                env=env, stdin="admin: raw <message to='${dev.full_jid}'><body>hi</body>"
                               "</message>\n")
    assert done.code == 0, done.stderr
    assert "--tls none" in done.stderr  # the plaintext warning
    replayed = xiot("replay", "run", str(out), "--lab", "openlab", env=env)
    assert replayed.code == 0, replayed.stdout + replayed.stderr
