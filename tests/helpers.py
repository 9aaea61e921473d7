"""Helpers shared by the integration and CLI tests."""

from __future__ import annotations

import json
import os
import subprocess
import sys
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


def xiot_here(*args: str, env: dict | None = None, timeout: float = 60, stdin: str = ""
              ) -> Result:
    """Run ``xiot`` in this process, on the working tree's code (no installed copy involved).

    The streams, environment and stdin are isolated the way typer's test runner does it, and
    the command goes through ``xiot.cli.run`` (hoisting, error boundary, exit codes) exactly
    as the console script does.
    """
    import logging

    from typer.testing import CliRunner

    from xiot.cli import run

    runner = CliRunner()
    saved = {name: logging.getLogger(name).handlers[:] for name in ("xiot", "")}
    with runner.isolation(input=stdin, env=_env_changes(env)) as (out, err, *_):
        code = run(list(args))
        sys.stdout.flush()
        sys.stderr.flush()
        stdout = out.getvalue().decode()
        stderr = err.getvalue().decode() if err is not None else ""
    for name, handlers in saved.items():
        logging.getLogger(name).handlers[:] = handlers
    return Result(code, stdout, stderr)


def _env_changes(env: dict | None) -> dict:
    """What to set and unset so that the process environment looks like ``env``."""
    if env is None:
        return {}
    changes: dict = {k: v for k, v in env.items() if os.environ.get(k) != v}
    changes.update({k: None for k in os.environ if k not in env})
    return changes


def lab_settings(profile: str, **changes) -> Settings:
    return replace(resolve(GlobalOptions(profile=profile)), **changes)
