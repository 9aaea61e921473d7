"""Where a password comes from, and fetching it only when a session authenticates.

The password is never part of ``Settings``: ``config show`` and ``--help`` never run a password
command, and a secret never sits in an object that might be printed.
"""

from __future__ import annotations

import contextlib
import logging
import os
import sys
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal

from xiot.config.files import ConfigFile
from xiot.errors import ConfigError

if TYPE_CHECKING:
    from xiot.config.settings import Settings

log = logging.getLogger("xiot")


@dataclass(frozen=True)
class Credential:
    """Where the password comes from; never the password itself unless from a private file."""

    source: Literal["env", "cmd", "file", "prompt", "none"]
    detail: str = ""
    origin: str = ""
    secret: str | None = field(default=None, repr=False)

    def describe(self) -> str:
        """Safe to print: names the source, never the value."""
        if self.source == "file":
            return f"password key in {self.origin} (hidden)"
        if self.source == "cmd":
            return f"password_cmd: {self.detail}"
        if self.source == "env":
            return f"environment variable {self.detail}"
        if self.source == "prompt":
            return "prompt on the terminal"
        return "none"


def credential_source(profile: dict[str, Any], origin: ConfigFile | None) -> Credential:
    """Decide where the password will come from, without fetching it yet."""
    if os.environ.get("XIOT_PASSWORD"):
        return Credential("env", "XIOT_PASSWORD")
    if profile.get("password_cmd"):
        return Credential("cmd", str(profile["password_cmd"]))
    if profile.get("password_env"):
        return Credential("env", str(profile["password_env"]))
    if profile.get("password") is not None and origin is not None:
        if origin.private:
            return Credential("file", origin=str(origin.path), secret=str(profile["password"]))
        log.warning(
            "ignoring the password in %s: the file is readable by others "
            "(run 'chmod 600 %s', or use password_cmd)", origin.path, origin.path,
        )
    return Credential("prompt")


def fetch_password(settings: Settings) -> str:
    """The password for ``settings.jid``, from the configured source.

    Raises ConfigError (exit 3) when the source fails; the message never contains the secret.
    """
    cred = settings.credential
    if cred.source == "file" and cred.secret is not None:
        return cred.secret
    if cred.source == "env":
        value = os.environ.get(cred.detail)
        if not value:
            raise ConfigError(
                f"environment variable {cred.detail} is not set or empty",
                "Export it, or change password_env in the profile",
            )
        return value
    if cred.source == "cmd":
        return _run_password_cmd(cred.detail, settings.timeout)
    if sys.stdin.isatty() and sys.stderr.isatty():
        return _prompt(f"Password for {settings.jid}: ")
    raise ConfigError(
        f"no password for {settings.jid}",
        "Set password_cmd or password_env in the profile, or XIOT_PASSWORD in the environment",
    )


def _prompt(text: str) -> str:
    """Ask on the terminal; Ctrl-C interrupts at once (exit 130), even inside an event loop.

    asyncio replaces the SIGINT handler with one that only cancels the running task, which a
    blocking terminal read never notices; the default handler is put back for the prompt.
    """
    import getpass
    import signal
    import threading

    restore = None
    if threading.current_thread() is threading.main_thread():
        restore = signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        return getpass.getpass(text, stream=sys.stderr)
    except EOFError:
        raise ConfigError("no password entered") from None
    finally:
        if restore is not None:
            signal.signal(signal.SIGINT, restore)


def _run_password_cmd(command: str, timeout: float) -> str:
    """The first line ``command`` prints, waiting at most ``timeout`` seconds.

    The command runs in a process group of its own, so that on a timeout (or Ctrl-C) the
    whole group is killed: a wrapper script's children (a ``sleep``, a stuck helper) would
    otherwise outlive xiot and keep its pipes open.  A program that detaches into a session
    of its own on purpose (gpg-agent) is left alone.
    """
    import shlex
    import subprocess  # deferred, like every import here: most runs never call a command

    try:
        argv = shlex.split(command)
    except ValueError as exc:
        raise ConfigError(f"cannot parse password_cmd: {exc}") from None
    if not argv:
        raise ConfigError("password_cmd is empty", "Check the profile's password_cmd")
    try:
        proc = subprocess.Popen(
            argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
            stdin=subprocess.DEVNULL if not sys.stdin.isatty() else None,
            start_new_session=True,
        )
    except FileNotFoundError:
        raise ConfigError(
            f"password_cmd program not found: {argv[0]}", "Check the profile's password_cmd"
        ) from None
    except OSError as exc:
        raise ConfigError(f"cannot run password_cmd: {exc.strerror or exc}") from None
    try:
        stdout, _ = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        _kill_group(proc)
        raise ConfigError(
            f"password_cmd did not finish within {timeout:g} s; it was stopped",
            "Run the command by hand to see where it waits, or raise --timeout",
        ) from None
    except BaseException:  # Ctrl-C: leave nothing behind
        _kill_group(proc)
        raise
    if proc.returncode != 0:
        raise ConfigError(
            f"password_cmd failed with exit status {proc.returncode}",
            "Run the command by hand to see why",
        )
    password = stdout.splitlines()[0] if stdout else ""
    if not password:
        raise ConfigError("password_cmd printed nothing", "It must print the password on stdout")
    return password


def _kill_group(proc: Any) -> None:
    """Kill the command's whole process group, reap the command, close its pipes.

    Its output is not read: a descendant that left the group could hold the pipes open.
    """
    import signal

    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    for stream in (proc.stdout, proc.stderr):
        if stream is not None:
            stream.close()
