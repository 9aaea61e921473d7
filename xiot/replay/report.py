"""Replay results as text for people, TAP for harnesses and JUnit XML for CI servers.

Pure functions from ``ScenarioResult``s to strings; the command decides where they go.  A
failure always shows the step and its ``file:line``, why it failed, the expected stanza against
the closest one received as a unified diff, and what else arrived meanwhile.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from collections.abc import Sequence

from xiot.replay.runner import ScenarioResult, StepOutcome

_WORD = {"ok": "PASS", "fail": "FAIL", "skip": "SKIP"}


def _indent(text: str, by: str = "    ") -> str:
    return "\n".join(by + line for line in text.splitlines())


def failure_text(step: StepOutcome) -> str:
    """The readable account of one failed step."""
    who = f" ({step.actor})" if step.actor else ""
    lines = [f"step {step.index + 1} {step.kind}{who} at {step.file}:{step.line}:",
             _indent(step.message, "  ")]
    if step.diff:
        lines += ["  expected (-) against the closest received (+):", _indent(step.diff)]
    if step.skipped:
        lines.append(f"  also arrived ({len(step.skipped)}):")
        lines += [_indent(text) for text in step.skipped]
    return "\n".join(lines)


def text(results: Sequence[ScenarioResult], verbose: bool = False) -> str:
    """One line per scenario, the failure details under a failed one, a summary line."""
    out = []
    for result in results:
        out.append(f"{_WORD[result.status]}  {result.name}  ({result.file}, "
                   f"{result.elapsed_ms / 1000:.2f}s)"
                   + (f"  {result.reason}" if result.reason else ""))
        failed = result.failed
        if failed is not None:
            out.append(_indent(failure_text(failed), "      "))
        if verbose:
            for step in result.steps:
                out.append(f"      {step.index + 1:>3} {_WORD[step.status]} {step.kind:<11} "
                           f"{step.actor or '':<10} {step.elapsed_ms:8.1f} ms"
                           + (f"  {step.message.splitlines()[0]}"
                              if step.message and step.status != "fail" else ""))
    out.append(summary(results))
    return "\n".join(out) + "\n"


def summary(results: Sequence[ScenarioResult]) -> str:
    counts = {status: sum(1 for r in results if r.status == status)
              for status in ("ok", "fail", "skip")}
    return (f"{len(results)} scenario{'s' if len(results) != 1 else ''}: {counts['ok']} passed,"
            f" {counts['fail']} failed, {counts['skip']} skipped")


def tap(results: Sequence[ScenarioResult]) -> str:
    """TAP version 13: one test point per scenario, failure details as YAML diagnostics."""
    out = ["TAP version 13", f"1..{len(results)}"]
    for number, result in enumerate(results, 1):
        name = f"{result.name} ({result.file})".replace("#", "\\#")
        if result.status == "skip":
            out.append(f"ok {number} - {name} # SKIP {result.reason}")
            continue
        out.append(f"{'ok' if result.status == 'ok' else 'not ok'} {number} - {name}")
        failed = result.failed
        if failed is not None:
            out += ["  ---", f"  at: {failed.file}:{failed.line}", "  message: |",
                    _indent(failure_text(failed)), "  ..."]
    return "\n".join(out) + "\n"


def junit(results: Sequence[ScenarioResult], suite: str = "xiot replay") -> str:
    """JUnit XML (the dialect Jenkins, GitLab and GitHub reporters read)."""
    failures = sum(1 for r in results if r.status == "fail")
    skipped = sum(1 for r in results if r.status == "skip")
    total = sum(r.elapsed_ms for r in results) / 1000
    root = ET.Element("testsuites", name=suite, tests=str(len(results)),
                      failures=str(failures), skipped=str(skipped), time=f"{total:.3f}")
    tsuite = ET.SubElement(root, "testsuite", name=suite, tests=str(len(results)),
                           failures=str(failures), errors="0", skipped=str(skipped),
                           time=f"{total:.3f}")
    for result in results:
        case = ET.SubElement(tsuite, "testcase", classname=result.file, name=result.name,
                             time=f"{result.elapsed_ms / 1000:.3f}")
        failed = result.failed
        if failed is not None:
            first = failed.message.splitlines()[0] if failed.message else "failed"
            node = ET.SubElement(case, "failure", message=f"{failed.file}:{failed.line}: "
                                 f"{first}", type=failed.kind)
            node.text = failure_text(failed)
        elif result.status == "skip":
            ET.SubElement(case, "skipped", message=result.reason)
        steps = "\n".join(f"{s.index + 1} {s.status} {s.kind} {s.actor or ''} "
                          f"{s.elapsed_ms:.1f}ms {s.message.splitlines()[0] if s.message else ''}"
                          .rstrip() for s in result.steps)
        if steps:
            ET.SubElement(case, "system-out").text = steps
    ET.indent(root)
    return "<?xml version='1.0' encoding='utf-8'?>\n" + ET.tostring(root, "unicode") + "\n"
