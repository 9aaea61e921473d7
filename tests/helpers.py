"""Helpers shared by the integration and CLI tests."""

from __future__ import annotations

import json
import os
import subprocess
import sysconfig
from dataclasses import dataclass, replace
from pathlib import Path

from xiot.config import GlobalOptions, Settings, resolve


@dataclass(frozen=True)
class Result:
    code: int
    stdout: str
    stderr: str

    def ndjson(self) -> list[dict]:
        return [json.loads(line) for line in self.stdout.splitlines() if line.strip()]

    def assert_clean_error(self, code: int) -> str:
        """The error contract: the exit code, one line on stderr, no traceback, no stdout."""
        assert self.code == code, (self.code, self.stderr)
        assert "Traceback" not in self.stderr
        lines = [line for line in self.stderr.splitlines() if line.strip()]
        assert len(lines) == 1, self.stderr
        assert lines[0].startswith("xiot: ")
        return lines[0]


def xiot_command() -> str:
    """The ``xiot`` console script installed for this interpreter (PATH may hold a shim)."""
    script = Path(sysconfig.get_path("scripts")) / "xiot"
    return str(script) if script.exists() else "xiot"


def xiot(*args: str, env: dict | None = None, timeout: float = 60, stdin: str = "") -> Result:
    """Run the installed ``xiot`` command."""
    done = subprocess.run([xiot_command(), *args], capture_output=True, text=True, timeout=timeout,
                          env=env or dict(os.environ), input=stdin)
    return Result(done.returncode, done.stdout, done.stderr)


def lab_settings(profile: str, **changes) -> Settings:
    return replace(resolve(GlobalOptions(profile=profile)), **changes)
