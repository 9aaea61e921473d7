"""Run a scenario: each actor its own Session, the steps in one global order, a verdict each.

The runner owns its actors' Sessions (it opens them at ``connect`` and closes them at
``disconnect`` or when the scenario ends, whatever happens).  Every stanza an actor receives
goes into that actor's inbox; an ``expect`` step takes stanzas from it until each expected
stanza has been matched, and stanzas it does not mention are skipped and recorded (servers
send presence, roster pushes and carbons a scenario does not care about).  Each wait is
bounded by the step's timeout, and a lost stream ends the step with the connection error.

Credentials are never in a scenario: the caller passes a function that turns an ``Actor``
into an ``Account`` (settings and, for lab accounts, the password), so this package needs
nothing above the XMPP layer.
"""

from __future__ import annotations

import asyncio
import functools
import secrets
import time
from collections import deque
from collections.abc import AsyncIterator, Callable, Iterable
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any

from xiot.errors import XiotError
from xiot.fanout import bounded
from xiot.replay import match
from xiot.replay.model import RUN_ID, Actor, Scenario, Step, parse_stanzas
from xiot.xmlsafe import XmlError

if TYPE_CHECKING:
    import xml.etree.ElementTree as ET

    from xiot.config import Settings
    from xiot.xmpp.session import Session

__all__ = ["STANZA_TAGS", "Account", "Inbox", "RunOptions", "ScenarioResult", "StepOutcome",
           "on_stanzas", "run_all", "run_scenario"]

#: What an actor's inbox (and a recording) keeps: the stanzas, not stream negotiation.
STANZA_TAGS = ("{jabber:client}message", "{jabber:client}presence", "{jabber:client}iq")


def on_stanzas(session: Session, name: str, callback: Callable[[Any], None]) -> None:
    """Call ``callback`` with every stanza ``session`` receives (iq results included)."""
    from slixmpp.xmlstream.handler import Callback
    from slixmpp.xmlstream.matcher.base import MatcherBase

    class _Stanzas(MatcherBase):  # type: ignore[misc]
        def match(self, xml: Any) -> bool:
            return xml.tag in STANZA_TAGS

    session.client.register_handler(Callback(name, _Stanzas(None), callback))


@dataclass(frozen=True)
class Account:
    """How an actor logs in: settings (JID, server, TLS) and, if not from them, a password."""

    settings: Settings
    password: str | None = field(default=None, repr=False)


Credentials = Callable[[Scenario, Actor], Account]


@dataclass(frozen=True)
class RunOptions:
    step_timeout: float = 10.0
    only_tags: tuple[str, ...] = ()
    skip_tags: tuple[str, ...] = ()


@dataclass(frozen=True)
class StepOutcome:
    """One step's verdict: ``ok``, ``fail`` or ``skip``, with what a person needs to see."""

    index: int
    kind: str
    actor: str | None
    file: str
    line: int
    status: str
    elapsed_ms: float
    message: str = ""
    diff: str = ""
    #: Stanzas that arrived during the step and were not mentioned by it (canonical text).
    skipped: tuple[str, ...] = ()

    def to_record(self) -> dict[str, Any]:
        return {"step": self.index + 1, "kind": self.kind, "actor": self.actor,
                "where": f"{self.file}:{self.line}", "status": self.status,
                "elapsed_ms": round(self.elapsed_ms, 2), "message": self.message,
                "diff": self.diff, "skipped": list(self.skipped)}


@dataclass(frozen=True)
class ScenarioResult:
    name: str
    file: str
    status: str
    elapsed_ms: float
    steps: tuple[StepOutcome, ...] = ()
    reason: str = ""

    @property
    def failed(self) -> StepOutcome | None:
        return next((s for s in self.steps if s.status == "fail"), None)

    def to_record(self) -> dict[str, Any]:
        return {"scenario": self.name, "file": self.file, "status": self.status,
                "elapsed_ms": round(self.elapsed_ms, 2), "reason": self.reason,
                "steps": [s.to_record() for s in self.steps]}


class Inbox:
    """Per-connection state: every stanza the actor receives, oldest first."""

    def __init__(self, session: Session) -> None:
        self.session = session
        self.items: deque[ET.Element] = deque()
        #: Resolved by the next stanza (or the end of the stream) while a step waits.
        self._waiter: asyncio.Future[None] | None = None
        #: While set, iq results and errors are dropped (the runner's own disco queries).
        self.muted = False
        on_stanzas(session, "xiot-replay-inbox", self._on_stanza)

    def _on_stanza(self, stanza: Any) -> None:
        xml = stanza.xml
        if self.muted and xml.tag == STANZA_TAGS[2] and xml.get("type") in ("result", "error"):
            return
        self.items.append(xml)
        self._wake()

    def _wake(self) -> None:
        if self._waiter is not None and not self._waiter.done():
            self._waiter.set_result(None)

    def connection_lost(self, error: Exception) -> None:
        self._wake()

    async def next(self, deadline: float) -> ET.Element | None:
        """The oldest unread stanza, waiting until ``deadline`` (loop time); None after it.

        One future and one timer per wait, not a task: an expect step's cost is mostly this
        wait, and the runner is held to a bare client's speed.
        """
        loop = asyncio.get_running_loop()
        while not self.items:
            self.session.check_alive()
            remaining = deadline - loop.time()
            if remaining <= 0:
                return None
            waiter = self._waiter = loop.create_future()
            timer = loop.call_later(remaining, self._wake)
            try:
                await waiter
            finally:
                timer.cancel()
                self._waiter = None
        return self.items.popleft()


# ------------------------------------------------------------------------------ running


async def run_all(scenarios: Iterable[Scenario], credentials: Credentials,
                  options: RunOptions = RunOptions(), jobs: int = 1
                  ) -> AsyncIterator[ScenarioResult]:
    """Each scenario's result as it completes, ``jobs`` scenarios at a time."""
    async def one(scenario: Scenario) -> ScenarioResult:
        return await run_scenario(scenario, credentials, options)

    async for result in bounded(list(scenarios), one, jobs):
        yield result


async def run_scenario(scenario: Scenario, credentials: Credentials,
                       options: RunOptions = RunOptions()) -> ScenarioResult:
    """Run one scenario to its verdict; every Session it opened is closed on return."""
    started = time.perf_counter()
    skip = _tag_filter(scenario, options)
    if skip:
        return ScenarioResult(scenario.name, scenario.file, "skip", 0.0, reason=skip)
    run = _Run(scenario, credentials, options)
    try:
        steps, reason = await run.steps()
    finally:
        await run.close()
    elapsed = (time.perf_counter() - started) * 1000
    if any(s.status == "fail" for s in steps):
        status = "fail"
    elif reason:
        status = "skip"
    else:
        status = "ok"
    return ScenarioResult(scenario.name, scenario.file, status, elapsed, tuple(steps), reason)


def _tag_filter(scenario: Scenario, options: RunOptions) -> str:
    if options.only_tags and not set(options.only_tags) & set(scenario.tags):
        return "not tagged " + " or ".join(options.only_tags)
    hit = sorted(set(options.skip_tags) & set(scenario.tags))
    if hit:
        return f"tagged {hit[0]} (--skip-tags)"
    return ""


class _Run:
    """The state of one scenario run: accounts, open Sessions, variables and captures."""

    def __init__(self, scenario: Scenario, credentials: Credentials,
                 options: RunOptions) -> None:
        self.scenario = scenario
        self.credentials = credentials
        self.options = options
        self.sessions: dict[str, Session] = {}
        self.accounts: dict[str, Account] = {}
        self.variables: dict[str, str] = {}
        self.features: set[str] | None = None

    async def close(self) -> None:
        sessions, self.sessions = list(self.sessions.values()), {}
        await asyncio.gather(*(s.close() for s in sessions), return_exceptions=True)

    def _accounts(self) -> None:
        """Every actor's account and JID variables, before the first step."""
        token = secrets.token_hex(3)
        self.variables[RUN_ID] = secrets.token_hex(6)
        for actor in self.scenario.actors:
            account = self.credentials(self.scenario, actor)
            from xiot.xmpp.jid import parse_jid

            bare = parse_jid(account.settings.jid or "").bare
            resource = actor.resource or f"replay-{actor.name}-{token}"
            full = f"{bare}/{resource}"
            self.accounts[actor.name] = replace(account,
                                                settings=account.settings.with_jid(full))
            user, _, domain = str(bare).rpartition("@")
            self.variables.update({f"{actor.name}.jid": str(bare),
                                   f"{actor.name}.full_jid": full,
                                   f"{actor.name}.domain": domain,
                                   f"{actor.name}.user": user,
                                   f"{actor.name}.resource": resource})

    async def steps(self) -> tuple[list[StepOutcome], str]:
        """All steps' outcomes, and the reason the scenario was skipped ('' if it was not)."""
        outcomes: list[StepOutcome] = []
        steps = self.scenario.steps
        try:
            self._accounts()
        except XiotError as exc:
            first = steps[0]
            outcomes.append(_outcome(0, first, "fail", 0.0, f"accounts: {exc.one_line()}"))
            return outcomes + _not_run(steps, 1, "not run: no accounts"), ""
        for index, step in enumerate(steps):
            started = time.perf_counter()
            missing = await self._missing(step.requires)
            if missing:
                outcomes.append(_outcome(index, step, "skip", 0.0,
                                         f"server lacks {missing}"))
                continue
            try:
                outcome = await self._step(index, step, started)
            except XiotError as exc:
                outcome = _outcome(index, step, "fail", _ms(started), exc.one_line())
            outcomes.append(outcome)
            if outcome.status == "fail":
                return outcomes + _not_run(steps, index + 1, "not run: an earlier step "
                                                             "failed"), ""
            if step.kind == "connect" and self.scenario.requires:
                missing = await self._missing(self.scenario.requires)
                if missing:
                    reason = f"server lacks {missing}"
                    return outcomes + _not_run(steps, index + 1, f"not run: {reason}"), reason
        return outcomes, ""

    async def _missing(self, features: tuple[str, ...]) -> str:
        """The first feature (of disco#info on the server) that is not offered, or ''."""
        if not features:
            return ""
        if self.features is None:
            if not self.sessions:
                return ""  # checked again after the first connect
            from xiot.xmpp.disco import get_info

            session = next(iter(self.sessions.values()))
            inbox = session.state(Inbox)
            inbox.muted = True
            try:
                info = await get_info(session, session.jid.domain, None,
                                      self.options.step_timeout)
            finally:
                inbox.muted = False
            self.features = set(info.features)
        return next((f for f in features if f not in self.features), "")

    def _timeout(self, step: Step) -> float:
        if step.timeout is not None:
            return step.timeout
        return self.scenario.timeout or self.options.step_timeout

    async def _step(self, index: int, step: Step, started: float) -> StepOutcome:
        if step.kind == "wait":
            await asyncio.sleep(step.seconds or 0.0)
        elif step.kind == "set":
            for name, value in step.values:
                self.variables[name] = _plain(match.substitute(value, self.variables))
        elif step.kind == "connect":
            await self._connect(step)
        elif step.kind == "disconnect":
            session = self.sessions.pop(step.actor or "", None)
            if session is not None:
                await session.close()
        elif step.kind == "send":
            return self._send(index, step, started)
        elif step.kind == "expect":
            return await self._expect(index, step, started)
        elif step.kind == "expect-none":
            return await self._expect_none(index, step, started)
        return _outcome(index, step, "ok", _ms(started))

    def _session(self, step: Step) -> Session:
        session = self.sessions.get(step.actor or "")
        if session is None:
            raise _StepError(f"{step.actor} is not connected (add '- connect: {step.actor}' "
                             "before this step)")
        return session

    async def _connect(self, step: Step) -> None:
        from xiot.xmpp.session import Session

        name = step.actor or ""
        if name in self.sessions:
            raise _StepError(f"{name} is already connected")
        account = self.accounts[name]
        session = Session(account.settings, password=account.password)
        await session.open()
        session.state(Inbox)
        self.sessions[name] = session

    def _send(self, index: int, step: Step, started: float) -> StepOutcome:
        session = self._session(step)
        text = match.substitute(step.xml or "", self.variables)
        try:
            _well_formed(text)
        except XmlError as exc:
            raise _StepError(f"after substitution: {exc}") from None
        session.check_alive()
        session.client.send_raw(text.strip())
        return _outcome(index, step, "ok", _ms(started))

    async def _expect(self, index: int, step: Step, started: float) -> StepOutcome:
        session = self._session(step)
        inbox = session.state(Inbox)
        pending = match.expected_stanzas(step.xml or "", self.variables)
        captures = {k: v for k, v in self.variables.items() if "." not in k}
        seen: list[ET.Element] = []
        timeout = self._timeout(step)
        deadline = asyncio.get_running_loop().time() + timeout
        while pending:
            stanza = await inbox.next(deadline)
            if stanza is None:
                return _mismatch(index, step, started, pending, seen, captures, timeout)
            for expected in pending:
                result = match.compare(expected, stanza, captures, step.strict)
                if result.ok:
                    captures = dict(result.captures)
                    pending.remove(expected)
                    break
            else:
                seen.append(stanza)
        self.variables.update(captures)
        return _outcome(index, step, "ok", _ms(started),
                        skipped=tuple(match.render(s) for s in seen))

    async def _expect_none(self, index: int, step: Step, started: float) -> StepOutcome:
        session = self._session(step)
        inbox = session.state(Inbox)
        unwanted = match.expected_stanzas(step.xml, self.variables) if step.xml else []
        seen: list[ET.Element] = []
        deadline = asyncio.get_running_loop().time() + (step.seconds or 0.0)
        while (stanza := await inbox.next(deadline)) is not None:
            if not unwanted or any(match.compare(u, stanza, self.variables).ok
                                   for u in unwanted):
                return _outcome(index, step, "fail", _ms(started),
                                "a stanza arrived that should not have:\n"
                                + match.render(stanza),
                                skipped=tuple(match.render(s) for s in seen))
            seen.append(stanza)
        return _outcome(index, step, "ok", _ms(started),
                        skipped=tuple(match.render(s) for s in seen))


class _StepError(XiotError):
    """A step that cannot be carried out as written (reported as that step's failure)."""


def _mismatch(index: int, step: Step, started: float, pending: list[ET.Element],
              seen: list[ET.Element], captures: dict[str, str], timeout: float) -> StepOutcome:
    """The failure report: the first unmatched expectation against its closest candidate."""
    expected = pending[0]
    if not seen:
        return _outcome(index, step, "fail", _ms(started),
                        f"nothing arrived within {timeout:g}s; expected:\n"
                        + match.render(expected))
    closest = max(seen, key=lambda s: match.similarity(expected, s))
    reason = match.compare(expected, closest, captures, step.strict).reason
    return _outcome(index, step, "fail", _ms(started),
                    f"no matching stanza within {timeout:g}s ({len(seen)} stanza"
                    f"{'s' if len(seen) != 1 else ''} arrived); closest differs at {reason}",
                    diff=match.diff(expected, closest),
                    skipped=tuple(match.render(s) for s in seen if s is not closest))


@functools.lru_cache(maxsize=256)
def _well_formed(text: str) -> None:
    """Check a stanza block once per distinct text (a scenario repeats its stanzas)."""
    parse_stanzas(text)


def _outcome(index: int, step: Step, status: str, elapsed_ms: float, message: str = "",
             diff: str = "", skipped: tuple[str, ...] = ()) -> StepOutcome:
    return StepOutcome(index, step.kind, step.actor, step.file, step.line, status, elapsed_ms,
                       message, diff, skipped)


def _not_run(steps: tuple[Step, ...], start: int, why: str) -> list[StepOutcome]:
    return [_outcome(i, steps[i], "skip", 0.0, why) for i in range(start, len(steps))]


def _ms(started: float) -> float:
    return (time.perf_counter() - started) * 1000


def _plain(text: str) -> str:
    """A ``set`` value is text, not XML: undo the escaping ``substitute`` applied."""
    from xml.sax.saxutils import unescape

    return unescape(text, {"&apos;": "'", "&quot;": '"'})
