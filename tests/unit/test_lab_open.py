"""``xiot lab up --open``: the Prosody config, ports and profile of an open lab, and that the
normal lab stays as it was."""

from __future__ import annotations

import csv
import time
from dataclasses import replace
from pathlib import Path

import pytest
import yaml

from xiot.config import GlobalOptions, resolve
from xiot.errors import UsageError
from xiot.lab import manager, prosody


def server_config(tmp_path: Path, open_lab: bool) -> prosody.ServerConfig:
    ports = {"c2s": 5000, "s2s": 5002, "http": 5003}
    if not open_lab:
        ports["c2s_direct"] = 5001
    return prosody.ServerConfig(
        directory=tmp_path, domain="localhost", host="127.0.0.1", ports=prosody.Ports.of(ports),
        admin_jid="admin@localhost", cert=tmp_path / "server.crt", key=tmp_path / "server.key",
        open=open_lab)


def test_open_config_has_no_tls_and_open_authentication(tmp_path):
    text = prosody.render_config(server_config(tmp_path, open_lab=True))
    lines = text.splitlines()
    for wanted in ('authentication = "insecure"',
                   'insecure_open_authentication = "Yes please, I know what I\'m doing!"',
                   "c2s_require_encryption = false", "allow_unencrypted_plain_auth = true",
                   "c2s_direct_tls_ports = {}", 'interfaces = { "127.0.0.1" }',
                   "c2s_ports = { 5000 }", 'VirtualHost "localhost"'):
        assert wanted in lines, wanted
    modules = next(line for line in lines if line.startswith("modules_enabled"))
    assert '"tls"' not in modules and '"saslauth"' in modules
    assert "server.crt" not in text and "ssl =" not in text and "certificates" not in text
    assert text.startswith("-- An OPEN lab")


def test_open_config_is_what_the_suites_test_servers_run(tmp_path):
    # a clean server on every start, offline delivery, an archive, a version answer without
    # the OS, publishers named in pubsub items
    lines = prosody.render_config(server_config(tmp_path, open_lab=True)).splitlines()
    for wanted in ('storage = "memory"', "hide_os_type = true",
                   'modules_disabled = { "s2s_bidi", "limits" }', "    expose_publisher = true"):
        assert wanted in lines, wanted
    modules = next(line for line in lines if line.startswith("modules_enabled"))
    assert '"offline"' in modules and '"mam"' in modules


def test_the_normal_config_is_unchanged(tmp_path):
    text = prosody.render_config(server_config(tmp_path, open_lab=False))
    lines = text.splitlines()
    for wanted in ('authentication = "internal_hashed"', "c2s_require_encryption = true",
                   "allow_unencrypted_plain_auth = false", "c2s_direct_tls_ports = { 5001 }"):
        assert wanted in lines, wanted
    assert "insecure" not in text and '"tls"' in text and "server.crt" in text


def test_an_open_lab_has_no_direct_tls_port():
    ports = prosody.Ports.of({"c2s": 1, "s2s": 3, "http": 4})
    assert ports.c2s_direct is None
    assert ports.as_dict() == {"c2s": 1, "s2s": 3, "http": 4}
    assert prosody.Ports(1, 2, 3, 4).as_dict() == {"c2s": 1, "c2s_direct": 2, "s2s": 3,
                                                    "http": 4}


@pytest.mark.parametrize("extra", [{"server": "ejabberd"}, {"dns": True},
                                   {"self_signed": True}])
def test_open_is_a_prosody_without_tls(extra):
    with pytest.raises(UsageError):
        manager.up(name="never-started", open=True, **extra)
    assert manager.load("never-started") is None


def fake_lab(tmp_path: Path, open_lab: bool) -> manager.Lab:
    directory = tmp_path / "lab"
    directory.mkdir()
    with (directory / "accounts.csv").open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["user", "jid", "password", "role"])
        writer.writerow(["admin", "admin@localhost", "secret-pw", "admin"])
    return manager.Lab(name=f"unit-open-{open_lab}", directory=str(directory),
                       domain="localhost", host="127.0.0.1",
                       ports={"c2s": 5000, "s2s": 5002, "http": 5003}, pid=0,
                       admin_jid="admin@localhost", devices=0, server_version="0.12.3",
                       started_at=time.time(), open=open_lab)


def test_the_open_labs_profile_uses_tls_none_and_resolves(tmp_path):
    lab = fake_lab(tmp_path, open_lab=True)
    assert lab.tls == "none"
    manager._write_profile(lab)
    try:
        body = yaml.safe_load(lab.profile_file.read_text())["profiles"][lab.name]
        assert body == {"jid": "admin@localhost", "server": "127.0.0.1:5000", "tls": "none",
                        "password": "secret-pw"}
        settings = resolve(GlobalOptions(profile=lab.name))
        assert (settings.tls, settings.host, settings.port) == ("none", "127.0.0.1", 5000)
    finally:
        lab.profile_file.unlink()


def test_a_normal_labs_profile_keeps_starttls_and_its_ca(tmp_path):
    lab = fake_lab(tmp_path, open_lab=False)
    manager._write_profile(lab)
    try:
        body = yaml.safe_load(lab.profile_file.read_text())["profiles"][lab.name]
        assert (body["tls"], body["ca"]) == ("starttls", str(lab.ca_file))
    finally:
        lab.profile_file.unlink()


def test_a_stopped_lab_is_rebuilt_when_open_changes(tmp_path):
    lab = fake_lab(tmp_path, open_lab=False)
    directory = Path(lab.directory)
    (directory / "certs").mkdir()
    (directory / "data").mkdir()
    for name in ("prosody.cfg.lua", "ca.pem", "ca.key", "certs/server.crt", "certs/server.key"):
        (directory / name).write_text("")
    opened = replace(lab, open=True)
    assert manager._restartable(lab, None, None, None, None, False, None, open=None)
    assert manager._restartable(opened, None, None, None, None, False, None, open=None)
    assert manager._restartable(opened, None, None, None, None, False, None, open=True)
    assert not manager._restartable(lab, None, None, None, None, False, None, open=True)
    assert not manager._restartable(opened, None, None, None, None, False, None, open=False)
