"""Fast start is part of the interface: help and completion must not import heavy modules."""

from __future__ import annotations

import json
import os
import subprocess
import sys

from tests.helpers import xiot_command

HEAVY = ("slixmpp", "dns", "rich", "prompt_toolkit", "yaml", "cryptography", "pydantic")

PROBE = """
import contextlib, io, json, sys
from xiot.cli import run
with contextlib.redirect_stdout(io.StringIO()):
    code = run(sys.argv[1:])
print(json.dumps([code, sorted(m for m in {heavy} if m in sys.modules)]))
"""


def modules_after(*args: str, env: dict | None = None) -> tuple[int, list[str]]:
    done = subprocess.run([sys.executable, "-c", PROBE.format(heavy=HEAVY), *args],
                          capture_output=True, text=True, env=env or dict(os.environ),
                          timeout=60)
    code, loaded = json.loads(done.stdout.strip().splitlines()[-1])
    return code, loaded


def test_root_help_imports_nothing_heavy():
    assert modules_after("--help") == (0, [])


def test_command_help_imports_nothing_heavy():
    for command in (["ping", "--help"], ["disco", "--help"], ["lab", "up", "--help"]):
        code, loaded = modules_after(*command)
        assert code == 0 and loaded == [], (command, loaded)


COMPLETION_PROBE = """
import contextlib, io, json, sys
from xiot.cli import run
out = io.StringIO()
with contextlib.redirect_stdout(out):
    try:
        run([])
    except SystemExit:
        pass
print(json.dumps([out.getvalue().split(), sorted(m for m in {heavy} if m in sys.modules)]))
"""


def test_completion_lists_commands_without_heavy_imports():
    env = dict(os.environ, _XIOT_COMPLETE="complete_bash", COMP_WORDS="xiot ", COMP_CWORD="1")
    done = subprocess.run([xiot_command()], capture_output=True, text=True, env=env, timeout=60)
    assert {"ping", "disco", "lab", "config"} <= set(done.stdout.split())
    # the same completion, in a process that then reports what it imported
    probe = subprocess.run([sys.executable, "-c", COMPLETION_PROBE.format(heavy=HEAVY)],
                           capture_output=True, text=True, env=env, timeout=60)
    words, loaded = json.loads(probe.stdout.strip().splitlines()[-1])
    assert {"ping", "readout", "lab"} <= set(words)
    assert loaded == [], loaded


def complete(words: str, cword: int, env: dict | None = None) -> list[str]:
    env = dict(env or os.environ, _XIOT_COMPLETE="complete_bash", COMP_WORDS=words,
               COMP_CWORD=str(cword))
    done = subprocess.run([xiot_command()], capture_output=True, text=True, env=env, timeout=60)
    return done.stdout.split()


def test_completion_of_profile_names_and_categories(lab):
    assert "testlab" in complete("xiot --profile test", 2)
    assert complete("xiot readout --types momentary,hist", 3)[0].startswith("momentary,hist")
    assert "identity" in complete("xiot readout --types ide", 3)


def test_a_session_told_where_to_connect_needs_no_dns_library():
    """--server (the lab's profiles) plans no look-up, so dnspython is not imported."""
    code = ("import sys; import xiot.xmpp.session, xiot.iot.readout; "
            "print(sorted(m for m in ('dns', 'aiodns') if m in sys.modules))")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          timeout=60, check=True)
    assert done.stdout.strip() == "[]"


def test_completion_of_lab_jids_works_offline(lab):
    """Device JIDs come from the labs' files: a Tab needs no connection."""
    offered = complete("xiot readout dev000", 2)
    assert "dev0001@xiot.test" in offered and all(o.startswith("dev000") for o in offered)
    assert "dev0003@xiot.test" in complete("xiot control dev0003", 2)
    assert "admin@xiot.test" not in complete("xiot readout adm", 2)
