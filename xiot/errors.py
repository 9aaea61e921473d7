"""The XiotError hierarchy.

Every failure a user can cause or meet is raised as one of these.  Each class carries the exit
code from the contract in the README, so the CLI maps an error to an exit status in one place,
and a ``hint`` that tells the user what to try next.  Library code raises them; only the CLI
turns them into a line on stderr and an exit status.
"""

from __future__ import annotations

from enum import IntEnum


class ExitCode(IntEnum):
    """Process exit statuses; see the README's exit-code table."""

    OK = 0
    FAILED = 1
    USAGE = 2
    CONFIG = 3
    CONNECT = 4
    AUTH = 5
    TIMEOUT = 6
    REMOTE = 7
    INTERRUPTED = 130


class XiotError(Exception):
    """Base class: a failure with a message, a hint and an exit code."""

    exit_code: ExitCode = ExitCode.FAILED

    def __init__(self, message: str, hint: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint

    def one_line(self) -> str:
        """The error as the single line the CLI prints on stderr."""
        text = self.message.rstrip(".")
        if self.hint:
            return f"{text}. {self.hint}"
        return text


class CheckFailed(XiotError):
    """The work completed but some targets or checks failed."""

    exit_code = ExitCode.FAILED


class UsageError(XiotError):
    """Bad input: a malformed argument, JID or input file."""

    exit_code = ExitCode.USAGE


class ConfigError(XiotError):
    """A configuration or credential problem."""

    exit_code = ExitCode.CONFIG


class ConnectError(XiotError):
    """DNS, TCP or TLS failure before a stream could be set up."""

    exit_code = ExitCode.CONNECT


class TLSError(ConnectError):
    """The TLS handshake or certificate verification failed."""


class AuthError(XiotError):
    """The server refused our credentials."""

    exit_code = ExitCode.AUTH


class Timeout(XiotError):
    """A network wait exceeded its limit."""

    exit_code = ExitCode.TIMEOUT


class RemoteError(XiotError):
    """The remote side answered with an error that stops the whole operation."""

    exit_code = ExitCode.REMOTE

    def __init__(self, message: str, hint: str | None = None, condition: str | None = None) -> None:
        super().__init__(message, hint)
        self.condition = condition


class LabError(XiotError):
    """The lab server could not be set up, started or stopped."""

    exit_code = ExitCode.CONFIG
