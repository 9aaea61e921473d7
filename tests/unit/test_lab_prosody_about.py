"""The lab reads Prosody's version from ``prosodyctl about``, whatever Prosody prints first."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from xiot.lab import prosody

#: Recorded from Debian 12's prosodyctl 0.12.3 (abridged after the version line).
ABOUT = """\
Prosody 0.12.3

# Prosody directories
Data directory:     /var/lib/prosody
Config directory:   /tmp/lab
Source directory:   /usr/lib/prosody

# Lua environment
Lua version:             \tLua 5.4

# Lua module versions
LuaExpat:     \t1.5.1
luaunbound:   \t1.0.0
"""

#: What Prosody prints first on a machine without lua-unbound (util/dependencies.lua).
NO_UNBOUND = """\

**************************
Prosody was unable to find lua-unbound
This package can be obtained in the following ways:

  Debian/Ubuntu sudo apt install lua-unbound
       luarocks luarocks install luaunbound
         Source https://www.zash.se/luaunbound.html

Old DNS resolver library will be used
More help can be found on our website, at https://prosody.im/doc/depends
**************************

"""

#: A log line that the certificate manager prints before everything else.
CERT_NOISE = ("certmanager         error\tError indexing certificate directory /tmp/lab/certs: "
              "cannot open /tmp/lab/certs: No such file or directory\n")


@pytest.mark.parametrize("text", [ABOUT, NO_UNBOUND + ABOUT, CERT_NOISE + ABOUT,
                                  NO_UNBOUND + CERT_NOISE + ABOUT.replace("\n", "\r\n")])
def test_version_is_found_after_any_warning(text):
    assert prosody.parse_version(text) == "0.12.3"


@pytest.mark.parametrize(("line", "version"), [
    ("Prosody 13.0.1", "13.0.1"),
    ("Prosody 0.12.3+deb12u1", "0.12.3+deb12u1"),
    ("Prosody hg:0e1a2b3c4d5f", "hg:0e1a2b3c4d5f"),
    ("Prosody trunk nightly build 1234 (2024-05-01, 0e1a2b3c)",
     "trunk nightly build 1234 (2024-05-01, 0e1a2b3c)"),
])
def test_release_source_and_nightly_versions(line, version):
    assert prosody.parse_version(NO_UNBOUND + line + "\n") == version


@pytest.mark.parametrize("text", [
    NO_UNBOUND,  # prosodyctl stopped after its warning
    "Prosody (unknown version)\n",
    "**************************\nProsody was unable to find the configuration file.\n",
    "",
])
def test_no_version_line_means_no_version_never_a_word(text):
    assert prosody.parse_version(text) is None


def _fake_prosody(folder: Path, about: str) -> str:
    """A 'prosody' and a 'prosodyctl' whose 'about' prints ``about``."""
    (folder / "about.txt").write_text(about)
    for name, body in (("prosody", "exit 1\n"),
                       ("prosodyctl", f'cat "{folder / "about.txt"}"\n')):
        script = folder / name
        script.write_text("#!/bin/sh\n" + body)
        script.chmod(script.stat().st_mode | stat.S_IXUSR)
    return str(folder / "prosody")


def _config(folder: Path) -> prosody.ServerConfig:
    return prosody.ServerConfig(directory=folder, domain="xiot.test", host="127.0.0.1",
                                ports=prosody.Ports(1, 2, 3, 4), admin_jid="admin@xiot.test",
                                cert=folder / "c.pem", key=folder / "k.pem")


@pytest.mark.parametrize(("about", "version"), [(NO_UNBOUND + ABOUT, "0.12.3"),
                                                (NO_UNBOUND, "unknown")])
def test_server_version_reads_past_the_lua_unbound_warning(tmp_path, monkeypatch, about,
                                                           version):
    monkeypatch.setenv("XIOT_PROSODY", _fake_prosody(tmp_path, about))
    assert os.access(tmp_path / "prosodyctl", os.X_OK)
    assert prosody.server_version(_config(tmp_path)) == version
