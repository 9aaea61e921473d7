"""``apply``: make a node tree, its configuration and affiliations match a description.

The description (YAML or JSON, read with a safe loader) is checked in three passes, so that
nothing is half-applied:

1. its shape, offline (node names, keys, types, affiliation values, JIDs);
2. against the server, reading only: which nodes exist, their types, their configuration
   forms (or the default form for new nodes) and affiliations; every value is checked
   against those forms, and the changes become a list of ``Step``s;
3. only then the steps are sent, in order.  If the server refuses one midway, the steps
   already done are undone in reverse (a created node deleted, a configuration or an
   affiliation put back) and the report says exactly what was done, what failed, what was
   undone and what was skipped.

A second run finds nothing to change: the plan is empty.

    service: pubsub.example.org        # optional
    nodes:
      sensors:
        type: collection
        config: {title: Sensors, access: open}
        children:
          sensors/kitchen:
            config: {max_items: 50, persist: true}
            affiliations: {dev0001@example.org: publisher}
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any

from xiot.errors import RemoteError, UsageError, XiotError
from xiot.pubsub import config as cfg
from xiot.pubsub.core import NODE_CONFIG, NS, Target, check_jid, pubsub, q, request, submit_form
from xiot.pubsub.model import Step
from xiot.pubsub.subscriptions import AFFILIATIONS

if TYPE_CHECKING:
    from xiot.xmpp.session import Session

NODE_KEYS = frozenset({"type", "config", "affiliations", "children", "collection"})
MAX_NODES = 10_000


@dataclass(frozen=True)
class NodeSpec:
    name: str
    kind: str = "leaf"
    config: dict[str, Any] = field(default_factory=dict)
    affiliations: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Spec:
    service: str | None
    nodes: tuple[NodeSpec, ...]


def read_spec(text: str, source: str) -> Spec:
    """Parse and check a description (YAML, of which JSON is a subset); ``UsageError``."""
    import yaml

    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}" if mark is not None else ""
        raise UsageError(f"{source} is not valid YAML/JSON{where}: "
                         f"{getattr(exc, 'problem', None) or exc}") from None
    if not isinstance(data, dict) or not isinstance(data.get("nodes"), dict):
        raise UsageError(f"{source} must be a mapping with a 'nodes' mapping",
                         "See 'xiot pubsub apply --help' for the format")
    unknown = set(data) - {"service", "nodes"}
    if unknown:
        raise UsageError(f"{source}: unknown top-level key(s) {', '.join(sorted(unknown))}")
    service = data.get("service")
    if service is not None:
        service = check_jid(str(service), f"{source}: service")
    found: list[NodeSpec] = []
    _collect(data["nodes"], None, source, found)
    if not found:
        raise UsageError(f"{source} describes no node")
    return Spec(service, tuple(found))


def _collect(nodes: dict, parent: str | None, source: str, found: list[NodeSpec]) -> None:
    for name, body in nodes.items():
        where = f"{source}: node {name!r}"
        if not isinstance(name, str) or not name or any(ord(c) < 32 for c in name):
            raise UsageError(f"{where}: a node name must be non-empty text")
        body = body or {}
        if not isinstance(body, dict):
            raise UsageError(f"{where} must be a mapping (type, config, affiliations, "
                             "children, collection)")
        unknown = set(body) - NODE_KEYS
        if unknown:
            raise UsageError(f"{where}: unknown key(s) {', '.join(sorted(unknown))}",
                             f"Use {', '.join(sorted(NODE_KEYS))}")
        kind = body.get("type", "leaf")
        if kind not in ("leaf", "collection"):
            raise UsageError(f"{where}: type must be leaf or collection, not {kind!r}")
        config = body.get("config") or {}
        affiliations = body.get("affiliations") or {}
        if not isinstance(config, dict) or not isinstance(affiliations, dict):
            raise UsageError(f"{where}: config and affiliations must be mappings")
        config = {cfg.field_name(str(k)): v for k, v in config.items()}
        member_of = body.get("collection", parent)
        if member_of is not None:
            config.setdefault("pubsub#collection", member_of)
        checked_affs = {}
        for jid, value in affiliations.items():
            if value not in AFFILIATIONS:
                raise UsageError(f"{where}: affiliation {value!r} for {jid} is not one of "
                                 f"{', '.join(AFFILIATIONS)}")
            checked_affs[check_jid(str(jid), f"{where}: JID")] = value
        if any(existing.name == name for existing in found):
            raise UsageError(f"{where} is described twice")
        found.append(NodeSpec(name, kind, config, checked_affs))
        if len(found) > MAX_NODES:
            raise UsageError(f"{source} describes more than {MAX_NODES} nodes")
        children = body.get("children") or {}
        if not isinstance(children, dict):
            raise UsageError(f"{where}: children must be a mapping")
        _collect(children, name, source, found)


# ------------------------------------------------------------------------------ planning


@dataclass(frozen=True)
class Planned:
    """A step with what it sends and how to take it back."""

    step: Step
    run: Callable[[Session], Awaitable[None]]
    undo: Callable[[Session], Awaitable[None]] | None = None


async def plan(session: Session, where: Target, spec: Spec, prune: bool = False
               ) -> list[Planned]:
    """Read the server's state and turn the differences into steps; sends no change."""
    from xiot.pubsub import nodes

    steps: list[Planned] = []
    default_form = None
    for node in spec.nodes:
        if node.kind == "collection" or "pubsub#collection" in node.config:
            where.require("collections", f"apply node '{node.name}'")
        nodes.check_access(where, node.config)
        current = await _current_type(session, where, node.name)
        if current is None:
            if default_form is None:
                default_form = await nodes._default_form(session, where) or False
            steps.append(_create(where, node, default_form or None, len(steps) + 1))
            affs: dict[str, str] = {}
        else:
            if node.kind != current:
                raise UsageError(f"node '{node.name}' is a {current} on {where.service}, but "
                                 f"the description says {node.kind}",
                                 "A node's type cannot change; delete it first or fix the file")
            form = await nodes.config_form(session, where, node.name)
            checked = cfg.check(node.config, form, where.service, where.has("collections"))
            changed = {n: t for n, t in checked.lexical.items()
                       if not cfg.same(form.field(n), checked.typed[n])}
            if changed:
                old = {n: tuple(form.field(n).values) if form.field(n) else ()
                       for n in changed}
                steps.append(_configure(where, node.name, changed, old, len(steps) + 1))
            affs = await _affiliations(session, where, node.name)
        steps += _affiliation_steps(session, where, node, affs, prune, len(steps))
    return steps


async def _current_type(session: Session, where: Target, node: str) -> str | None:
    from xiot.pubsub.nodes import info

    try:
        return (await info(session, where, node)).type or "leaf"
    except RemoteError as exc:
        if exc.condition == "item-not-found":
            return None
        raise


async def _affiliations(session: Session, where: Target, node: str) -> dict[str, str]:
    from xiot.pubsub.subscriptions import affiliations

    return {a.jid: a.affiliation for a in await affiliations(session, where, node, owner=True)}


def _create(where: Target, node: NodeSpec, form: Any, number: int) -> Planned:
    from xiot.pubsub import nodes

    values = dict(node.config) | ({"pubsub#node_type": "collection"}
                                  if node.kind == "collection" else {})
    checked = cfg.check(values, form, where.service, where.has("collections"))
    shown = ", ".join(f"{k.removeprefix('pubsub#')}={_text(v)}" for k, v in
                      checked.typed.items())

    async def run(session: Session) -> None:
        body = pubsub()
        ET.SubElement(body, q(NS, "create"), {"node": node.name})
        if checked.lexical:
            ET.SubElement(body, q(NS, "configure")).append(
                submit_form(NODE_CONFIG, checked.lexical))
        await request(session, where.service, "set", body, "create the node", node.name)

    async def undo(session: Session) -> None:
        await nodes.delete(session, where, node.name)

    step = Step(number, "create", where.service, node.name, f"{node.kind} {shown}".strip())
    return Planned(step, run, undo)


def _configure(where: Target, node: str, changed: dict[str, tuple[str, ...]],
               old: dict[str, tuple[str, ...]], number: int) -> Planned:
    from xiot.pubsub.nodes import submit_config

    shown = ", ".join(f"{k.removeprefix('pubsub#')}: {_text(old[k])} -> {_text(v)}"
                      for k, v in changed.items())

    async def run(session: Session) -> None:
        await submit_config(session, where, node, changed)

    async def undo(session: Session) -> None:
        await submit_config(session, where, node, old)

    return Planned(Step(number, "configure", where.service, node, shown), run, undo)


def _affiliation_steps(session: Session, where: Target, node: NodeSpec,
                       current: dict[str, str], prune: bool, done: int) -> list[Planned]:
    from xiot.pubsub.subscriptions import check_affiliations

    me = session.jid.bare
    wanted = {jid: value for jid, value in node.affiliations.items()
              if current.get(jid, "owner" if jid == me and not current else "none") != value}
    if prune:
        wanted |= {jid: "none" for jid, value in current.items()
                   if jid not in node.affiliations and jid != me and value != "none"}
    if wanted:
        check_affiliations(where, wanted)
    steps = []
    for jid, value in wanted.items():
        before = current.get(jid, "none")
        steps.append(_affiliate(where, node.name, jid, value, before, done + len(steps) + 1))
    return steps


def _affiliate(where: Target, node: str, jid: str, value: str, before: str, number: int
               ) -> Planned:
    async def send(session: Session, affiliation: str) -> None:
        from xiot.pubsub.core import NS_OWNER

        body = pubsub(owner=True)
        holder = ET.SubElement(body, q(NS_OWNER, "affiliations"), {"node": node})
        ET.SubElement(holder, q(NS_OWNER, "affiliation"), {"jid": jid,
                                                           "affiliation": affiliation})
        await request(session, where.service, "set", body, f"make {jid} {affiliation}", node)

    step = Step(number, "affiliate", where.service, node, f"{jid}: {before} -> {value}")
    return Planned(step, lambda s: send(s, value), lambda s: send(s, before))


def _text(value: Any) -> str:
    if isinstance(value, tuple | list):
        return ",".join(map(str, value)) if value else "(none)"
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


# ------------------------------------------------------------------------------ applying


@dataclass(frozen=True)
class Report:
    """Every step with its final status; ``error`` is the refusal that stopped the run."""

    steps: tuple[Step, ...]
    error: XiotError | None = None

    @property
    def done(self) -> int:
        return sum(s.status == "done" for s in self.steps)


async def execute(session: Session, planned: list[Planned]) -> Report:
    """Send the steps in order; on a refusal undo what was done, newest first."""
    results: list[Step] = []
    for index, item in enumerate(planned):
        try:
            await item.run(session)
        except RemoteError as exc:
            failed = replace(item.step, status="failed", error=exc.message)
            undone = await _undo(session, planned[:index], results)
            skipped = [replace(p.step, status="skipped") for p in planned[index + 1:]]
            return Report((*undone, failed, *skipped), exc)
        results.append(replace(item.step, status="done"))
    return Report(tuple(results))


async def _undo(session: Session, planned: list[Planned], results: list[Step]) -> list[Step]:
    outcome = list(results)
    for index in reversed(range(len(planned))):
        undo = planned[index].undo
        if undo is None:
            continue
        try:
            await undo(session)
        except XiotError as exc:
            outcome[index] = replace(outcome[index], status="undo-failed", error=exc.message)
        else:
            outcome[index] = replace(outcome[index], status="undone")
    return outcome
