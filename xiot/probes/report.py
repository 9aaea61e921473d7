"""Probe results as plain data.

Every probe step (a DNS lookup, a TCP connect, a certificate check) ends as one ``Check``.  A
check knows nothing about how it will be shown: renderers turn ``Check.to_record()`` into table
rows, NDJSON lines, CSV or monitoring output.  Keeping the record flat and its keys stable is
what lets CSV and NDJSON consumers rely on the output from one release to the next.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal, get_args

from xiot.output import jsonable

#: ``note`` is advice (a hardening step, a nice-to-have): shown, but it never raises the exit
#: code or a monitoring state.  ``warn`` is for what needs action, ``fail`` for what is broken,
#: ``skip`` for what was not checked (the message says why).
Status = Literal["ok", "note", "warn", "fail", "skip"]

#: Version of the record layout produced by ``Check.to_record``; bump it on incompatible change.
RECORD_SCHEMA = 1

#: How bad each status is.  ``skip`` ranks below ``ok`` so that a result holding passed and
#: skipped checks reads as ``ok``, while a result in which nothing ran reads as ``skip``.
#: ``note`` ranks above ``ok`` so that a summary can say advice exists, and below ``warn``.
_SEVERITY: dict[str, int] = {"skip": 0, "ok": 1, "note": 2, "warn": 3, "fail": 4}

#: Statuses in the order summaries list them, worst first.
STATUSES: tuple[Status, ...] = ("fail", "warn", "note", "ok", "skip")

_STATUSES: frozenset[str] = frozenset(get_args(Status))

#: Keys every record carries, in this order, before the flattened ``details.*`` keys.
RECORD_KEYS: tuple[str, ...] = (
    "schema", "domain", "id", "status", "elapsed_ms", "message", "endpoint",
)


@dataclass(frozen=True)
class Check:
    """One verdict about one domain (and, for per-connection checks, one endpoint).

    ``id`` is a stable dotted name such as ``dns.srv.xmpp-client`` or ``tls.identity`` that
    users can filter on; ``message`` is one human line; ``details`` holds the evidence as
    JSON-friendly values.  ``elapsed_ms`` is the measured time of the step, or ``None`` when
    the check did not involve waiting on anything.
    """

    domain: str
    id: str
    status: Status
    elapsed_ms: float | None
    message: str
    endpoint: str | None = None
    details: Mapping[str, Any] = field(default_factory=dict, hash=False)

    def __post_init__(self) -> None:
        if self.status not in _STATUSES:
            raise ValueError(f"unknown check status {self.status!r}")
        if "\n" in self.message:
            # One line per check is what table and Nagios renderers rely on.
            object.__setattr__(self, "message", " ".join(self.message.split()))
        object.__setattr__(self, "details", dict(self.details))

    def to_record(self) -> dict[str, Any]:
        """A flat, JSON-serialisable dict with stable keys.

        The fixed keys come first (see ``RECORD_KEYS``); nested details are flattened to
        ``details.<key>[.<subkey>]`` so that CSV writers get one column per fact.  Values that
        JSON cannot hold (datetimes, bytes, enums, sets) are converted to strings or lists.
        """
        record: dict[str, Any] = {
            "schema": RECORD_SCHEMA,
            "domain": self.domain,
            "id": self.id,
            "status": self.status,
            "elapsed_ms": None if self.elapsed_ms is None else round(self.elapsed_ms, 3),
            "message": self.message,
            "endpoint": self.endpoint,
        }
        flat: dict[str, Any] = {}
        _flatten("details", self.details, flat)
        record.update(sorted(flat.items()))
        return record


@dataclass(frozen=True)
class ProbeResult:
    """All checks made for one domain."""

    domain: str
    checks: tuple[Check, ...] = ()

    @property
    def worst_status(self) -> Status:
        """The most severe status among the checks; ``skip`` when there are none."""
        return worst_of(check.status for check in self.checks)

    @property
    def failed(self) -> bool:
        """True when any check failed: the CLI maps this to exit code 1."""
        return any(check.status == "fail" for check in self.checks)

    def counts(self) -> dict[str, int]:
        """How many checks ended in each status (every status present, zero or not)."""
        counts = dict.fromkeys(_SEVERITY, 0)
        for check in self.checks:
            counts[check.status] += 1
        return counts

    def to_records(self) -> list[dict[str, Any]]:
        """``Check.to_record()`` for every check, in order."""
        return [check.to_record() for check in self.checks]


def worst_of(statuses: Iterable[Status]) -> Status:
    """The most severe of ``statuses``; ``skip`` for an empty iterable."""
    worst: Status = "skip"
    for status in statuses:
        if _SEVERITY[status] > _SEVERITY[worst]:
            worst = status
    return worst


def _flatten(prefix: str, value: Any, out: dict[str, Any]) -> None:
    if isinstance(value, Mapping):
        for key, item in value.items():
            _flatten(f"{prefix}.{key}", item, out)
        return
    out[prefix] = jsonable(value)


