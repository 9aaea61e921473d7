"""Monitoring renderers for probe results: a Nagios plugin line and OpenMetrics text.

These need every result before they can say anything (one status line, one exposition), so
they take the finished list rather than a stream.  They know the ``Check`` record layout and
nothing about XMPP.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from xiot.probes.report import STATUSES, Check, ProbeResult, worst_of

#: Nagios plugin exit codes (they replace xiot's own with ``-o nagios``); advice (``note``)
#: never raises the state.
NAGIOS_CODES = {"ok": 0, "skip": 0, "note": 0, "warn": 1, "fail": 2}
NAGIOS_WORDS = {0: "OK", 1: "WARNING", 2: "CRITICAL", 3: "UNKNOWN"}
#: ``xiot_probe_check_status`` values: a note counts as ok, so alert rules on ``> 1`` stay
#: quiet for advice (``xiot_probe_notes`` counts the notes of a domain).
SEVERITY = {"skip": 0, "ok": 1, "note": 1, "warn": 2, "fail": 3}


def nagios(results: Sequence[ProbeResult]) -> tuple[str, int]:
    """One plugin line (``XMPP PROBE STATE - summary | perfdata``) and the plugin exit code.

    The summary names the first failing (or warning) checks; perfdata carries per-domain
    minimum certificate days left and per-domain probe phase times, which is what operators
    graph.
    """
    checks = [check for result in results for check in result.checks]
    worst = worst_of(check.status for check in checks)
    code = NAGIOS_CODES[worst] if checks else 3
    bad = [c for c in checks if c.status == worst and worst in ("fail", "warn")]
    counts = {s: sum(c.status == s for c in checks) for s in STATUSES}
    summary = (f"{len(results)} domain(s), {len(checks)} checks: {counts['fail']} failed, "
               f"{counts['warn']} warning, {counts['note']} note(s), {counts['ok']} ok")
    if bad:
        shown = "; ".join(f"{c.domain} {c.id}: {c.message}" for c in bad[:3])
        more = f" (+{len(bad) - 3} more)" if len(bad) > 3 else ""
        summary += f" - {shown}{more}"
    return f"XMPP PROBE {NAGIOS_WORDS[code]} - {summary.replace('|', '/')} | " + \
        " ".join(_perfdata(results)), code


def nagios_unknown(message: str) -> str:
    """The line for a probe that could not run at all (exit code 3)."""
    return f"XMPP PROBE UNKNOWN - {message.replace('|', '/')}"


def _perfdata(results: Sequence[ProbeResult]) -> list[str]:
    data: list[str] = []
    for result in results:
        label = _perf_label(result.domain)
        days = [c.details.get("days_left") for c in result.checks if c.id == "tls.expiry"]
        days = [d for d in days if isinstance(d, int | float)]
        if days:
            data.append(f"'{label}_cert_days'={min(days):.2f};;;")
        for group in ("dns", "tcp", "tls", "stream"):
            times = [c.elapsed_ms for c in result.checks
                     if c.id.split(".")[0] == group and c.elapsed_ms is not None]
            if times:
                data.append(f"'{label}_{group}_time'={max(times) / 1000:.4f}s;;;0")
        data.append(f"'{label}_failed'={sum(c.status == 'fail' for c in result.checks)};;;0")
        data.append(f"'{label}_notes'={sum(c.status == 'note' for c in result.checks)};;;0")
    return data


def _perf_label(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]", "_", text)


def openmetrics(results: Sequence[ProbeResult]) -> str:
    """An OpenMetrics exposition for a Prometheus textfile collector, ending in ``# EOF``.

    ``xiot_probe_check_status`` is the check's severity (0 skip, 1 ok or note, 2 warn, 3 fail)
    so alert rules can say ``> 1``; ``xiot_probe_success`` is 0 when any check failed;
    ``xiot_probe_notes`` counts a domain's advice, which raises no alert.
    """
    lines = [
        "# TYPE xiot_probe_success gauge",
        "# HELP xiot_probe_success 1 if no check of the domain failed.",
    ]
    lines += [f'xiot_probe_success{{domain="{_esc(r.domain)}"}} {0 if r.failed else 1}'
              for r in results]
    lines += ["# TYPE xiot_probe_notes gauge",
              "# HELP xiot_probe_notes Checks of the domain that gave advice (status note)."]
    lines += [f'xiot_probe_notes{{domain="{_esc(r.domain)}"}} {r.counts()["note"]}'
              for r in results]
    lines += ["# TYPE xiot_probe_check_status gauge",
              "# HELP xiot_probe_check_status Check severity: 0 skip, 1 ok or note, 2 warn, "
              "3 fail."]
    lines += [f"xiot_probe_check_status{{{_labels(c)}}} {SEVERITY[c.status]}"
              for r in results for c in r.checks]
    lines += ["# TYPE xiot_probe_check_duration_seconds gauge",
              "# UNIT xiot_probe_check_duration_seconds seconds",
              "# HELP xiot_probe_check_duration_seconds Measured time of the check's step."]
    lines += [f"xiot_probe_check_duration_seconds{{{_labels(c)}}} {c.elapsed_ms / 1000:.6f}"
              for r in results for c in r.checks if c.elapsed_ms is not None]
    lines += ["# TYPE xiot_probe_cert_days_left gauge",
              "# HELP xiot_probe_cert_days_left Days until the endpoint's certificate expires."]
    lines += [f"xiot_probe_cert_days_left{{{_labels(c, with_id=False)}}} "
              f"{c.details['days_left']}"
              for r in results for c in r.checks
              if c.id == "tls.expiry" and isinstance(c.details.get("days_left"), int | float)]
    lines.append("# EOF")
    return "\n".join(lines) + "\n"


def _labels(check: Check, with_id: bool = True) -> str:
    pairs = [("domain", check.domain)]
    if with_id:
        pairs.append(("check", check.id))
    pairs.append(("endpoint", check.endpoint or ""))
    return ",".join(f'{key}="{_esc(value)}"' for key, value in pairs)


def _esc(value: str) -> str:
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


#: Table columns; the rows are grouped by domain and endpoint.
TABLE_COLUMNS = ("domain", "endpoint", "id", "status", "elapsed_ms", "message")


def summary_line(results: Sequence[ProbeResult]) -> str:
    """``2 domains, 54 checks: 40 ok, 6 note, 1 warn, 0 fail, 7 skip`` - how a run ended."""
    counts = dict.fromkeys(STATUSES, 0)
    for result in results:
        for status, count in result.counts().items():
            counts[status] += count
    total = sum(counts.values())
    parts = ", ".join(f"{counts[s]} {s}" for s in ("ok", "note", "warn", "fail", "skip"))
    plural = "s" * (len(results) != 1)
    return f"{len(results)} domain{plural}, {total} checks: {parts}"


def table_rows(results: Sequence[ProbeResult]) -> list[dict[str, object]]:
    """Rows for the table: per domain, domain-wide checks first, then endpoint by endpoint."""
    rows: list[dict[str, object]] = []
    for result in sorted(results, key=lambda r: r.domain):
        order = {c: i for i, c in enumerate(result.checks)}
        for check in sorted(result.checks, key=lambda c: (c.endpoint or "", order[c])):
            record = check.to_record()
            rows.append({k: record[k] for k in TABLE_COLUMNS})
    return rows
