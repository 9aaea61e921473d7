"""Replay scenarios: the YAML format, read strictly, every step knowing its file and line.

A scenario is data, written by people and replayed by CI, so a mistake in it must be reported
where it is (``file:line: what is wrong``, exit 2) before anything connects; a typo found
halfway through a run against a server wastes the run and leaves state behind.  The YAML is
read with the safe loader's composer so that every mapping keeps its line number, and every
stanza is parsed with the DTD-free parser (``xiot.xmlsafe``) when the file is loaded.

Bottom of the protocol layer: the standard library, PyYAML, ``errors`` and ``xmlsafe``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from xiot.errors import UsageError
from xiot.xmlsafe import XmlError, fromstring

__all__ = ["ACTOR_FIELDS", "STEP_KINDS", "Actor", "Scenario", "ScenarioError", "Step",
           "captures_in", "load", "load_text", "parse_stanzas", "variables_in"]

#: Step kinds, in the order the documentation lists them.
STEP_KINDS = ("connect", "send", "expect", "expect-none", "disconnect", "wait", "set")
#: What an actor may say about its account (never a password: credentials come from profiles
#: or the lab).
ACTOR_FIELDS = ("profile", "lab", "account", "jid", "resource", "host", "port")
#: A token unique to one run of a scenario, for node, room and item names that must not
#: collide with parallel or earlier runs.
RUN_ID = "run.id"
#: What each actor offers as ``${actor.NAME}``.
ACTOR_VARIABLES = ("jid", "full_jid", "domain", "user", "resource")
SCENARIO_FIELDS = ("name", "description", "tags", "requires", "timeout", "lab", "actors",
                   "steps")
_STEP_OPTIONS = {
    "connect": (),
    "send": ("xml",),
    "expect": ("xml", "strict", "timeout"),
    "expect-none": ("for", "xml"),
    "disconnect": (),
    "wait": (),
    "set": (),
}
_COMMON_STEP_OPTIONS = ("requires", "note")

#: ``${name}`` or ``${actor.attribute}`` in a stanza or a ``set`` value.
VARIABLE = re.compile(r"\$\{([A-Za-z_][\w-]*(?:\.[A-Za-z_]\w*)?)\}")
#: ``{capture:NAME}`` (also scansion's ``{scansion:capture:NAME}``) in an expected stanza.
CAPTURE = re.compile(r"\{(?:scansion:)?capture:([A-Za-z_][\w-]*)\}")
_NAME = re.compile(r"^[A-Za-z_][\w-]*$")

#: The wrapper a stanza block is parsed in: the stream's default namespace and the prefixes
#: of the per-element switches.
REPLAY_NS = "urn:xiot:replay"
SCANSION_NS = "https://matthewwild.co.uk/projects/scansion"
_WRAP_OPEN = (f"<replay-stanzas xmlns='jabber:client' xmlns:replay='{REPLAY_NS}' "
              f"xmlns:scansion='{SCANSION_NS}'>")
_WRAP_CLOSE = "</replay-stanzas>"


class ScenarioError(UsageError):
    """A scenario file that cannot be run: the message starts with ``file:line:``."""


@dataclass(frozen=True)
class Actor:
    """One account (or one resource of an account) a scenario drives."""

    name: str
    file: str
    line: int
    profile: str | None = None
    lab: str | None = None
    account: str | None = None
    jid: str | None = None
    resource: str | None = None
    #: Where to connect (scansion's connect_host/connect_port); None: the profile's or DNS.
    host: str | None = None
    port: int | None = None
    #: Only from an imported scansion script (its throw-away test accounts); never in YAML.
    password: str | None = field(default=None, repr=False, compare=False)

    def where(self) -> str:
        return f"{self.file}:{self.line}"


@dataclass(frozen=True)
class Step:
    """One step; ``options`` holds the kind's fields (``xml``, ``timeout``, ``for``...)."""

    kind: str
    file: str
    line: int
    actor: str | None = None
    xml: str | None = None
    xml_line: int = 0
    strict: bool = False
    timeout: float | None = None
    seconds: float | None = None
    values: tuple[tuple[str, str], ...] = ()
    requires: tuple[str, ...] = ()
    note: str | None = None

    def where(self) -> str:
        return f"{self.file}:{self.line}"

    def label(self) -> str:
        who = f" {self.actor}" if self.actor else ""
        return f"{self.kind}{who}"


@dataclass(frozen=True)
class Scenario:
    name: str
    file: str
    line: int
    actors: tuple[Actor, ...]
    steps: tuple[Step, ...]
    tags: tuple[str, ...] = ()
    requires: tuple[str, ...] = ()
    timeout: float | None = None
    lab: str | None = None
    description: str | None = None
    warnings: tuple[str, ...] = field(default=(), compare=False)

    def actor(self, name: str) -> Actor:
        return next(a for a in self.actors if a.name == name)


# ------------------------------------------------------------------------------ XML


def parse_stanzas(text: str) -> list[Any]:
    """The stanzas of a block, in the stream's default namespace (``jabber:client``).

    Raises ``XmlError`` for XML that is not well-formed or declares a DTD.
    """
    wrapper = fromstring(_WRAP_OPEN + text + _WRAP_CLOSE)
    return list(wrapper)


def variables_in(text: str) -> list[str]:
    return VARIABLE.findall(text)


def captures_in(text: str) -> list[str]:
    return CAPTURE.findall(text)


# ------------------------------------------------------------------------------ loading


def load(path: Path | str) -> Scenario:
    """Read and check one scenario file; ``ScenarioError`` (exit 2) says where it is wrong."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ScenarioError(f"{path}: cannot read ({exc.strerror or exc})") from None
    except UnicodeDecodeError:
        raise ScenarioError(f"{path}: not UTF-8 text") from None
    return load_text(text, str(path))


def load_text(text: str, file: str = "<scenario>") -> Scenario:
    import yaml

    loader = yaml.SafeLoader(text)
    try:
        root = loader.get_single_node()
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + 1 if mark else 1
        raise ScenarioError(f"{file}:{line}: not valid YAML ({exc.problem or exc})") from None
    except yaml.YAMLError as exc:
        raise ScenarioError(f"{file}: not valid YAML ({exc})") from None
    finally:
        loader.dispose()
    if root is None:
        raise ScenarioError(f"{file}:1: empty scenario")
    return _Reader(file).scenario(root)


class _Reader:
    """Turns composed YAML nodes into a checked ``Scenario``."""

    def __init__(self, file: str) -> None:
        import yaml

        self.file = file
        self._yaml = yaml
        self._constructor = yaml.SafeLoader("")

    def fail(self, node: Any, text: str) -> ScenarioError:
        return ScenarioError(f"{self.file}:{node.start_mark.line + 1}: {text}")

    def value(self, node: Any) -> Any:
        return self._constructor.construct_object(node, deep=True)

    def mapping(self, node: Any, what: str) -> dict[str, tuple[Any, Any]]:
        """key -> (key node, value node), refusing anything but string keys."""
        if not isinstance(node, self._yaml.MappingNode):
            raise self.fail(node, f"{what} must be a mapping")
        out: dict[str, tuple[Any, Any]] = {}
        for key, val in node.value:
            name = self.value(key)
            if not isinstance(name, str):
                raise self.fail(key, f"{what}: keys must be strings")
            if name in out:
                raise self.fail(key, f"{what}: '{name}' given twice")
            out[name] = (key, val)
        return out

    def text(self, node: Any, what: str) -> str:
        value = self.value(node)
        if isinstance(value, bool) or not isinstance(value, str | int | float):
            raise self.fail(node, f"{what} must be a string")
        return str(value)

    def number(self, node: Any, what: str) -> float:
        value = self.value(node)
        if isinstance(value, bool) or not isinstance(value, int | float) or value < 0:
            raise self.fail(node, f"{what} must be a number of seconds (0 or more)")
        return float(value)

    def strings(self, node: Any, what: str) -> tuple[str, ...]:
        if not isinstance(node, self._yaml.SequenceNode):
            raise self.fail(node, f"{what} must be a list")
        return tuple(self.text(item, f"{what} entries") for item in node.value)

    # -- the document ------------------------------------------------------------------

    def scenario(self, root: Any) -> Scenario:
        top = self.mapping(root, "a scenario")
        for key, (knode, _) in top.items():
            if key not in SCENARIO_FIELDS:
                raise self.fail(knode, f"unknown field '{key}' (known: "
                                       f"{', '.join(SCENARIO_FIELDS)})")
        for needed in ("name", "actors", "steps"):
            if needed not in top:
                raise self.fail(root, f"a scenario needs '{needed}'")
        actors = self.actors(top["actors"][1])
        steps = self.steps(top["steps"][1])
        scenario = Scenario(
            name=self.text(top["name"][1], "name"),
            file=self.file,
            line=root.start_mark.line + 1,
            actors=actors,
            steps=steps,
            tags=self.strings(top["tags"][1], "tags") if "tags" in top else (),
            requires=self.strings(top["requires"][1], "requires") if "requires" in top else (),
            timeout=self.number(top["timeout"][1], "timeout") if "timeout" in top else None,
            lab=self.text(top["lab"][1], "lab") if "lab" in top else None,
            description=(self.text(top["description"][1], "description")
                         if "description" in top else None),
        )
        return _checked(scenario)

    def actors(self, node: Any) -> tuple[Actor, ...]:
        found = []
        for name, (knode, vnode) in self.mapping(node, "actors").items():
            if not _NAME.match(name):
                raise self.fail(knode, f"actor name '{name}': use letters, digits, _ and -")
            spec = {} if self.value(vnode) is None else self.mapping(vnode, f"actor {name}")
            fields = {}
            for key, (fk, fv) in spec.items():
                if key == "password":
                    raise self.fail(fk, f"actor {name}: no passwords in scenarios; give "
                                        "'profile' or a lab 'account'")
                if key not in ACTOR_FIELDS:
                    raise self.fail(fk, f"actor {name}: unknown field '{key}' (known: "
                                        f"{', '.join(ACTOR_FIELDS)})")
                fields[key] = self.text(fv, f"actor {name}: {key}")
            if "port" in fields:
                if not fields["port"].isdigit() or not 0 < int(fields["port"]) < 65536:
                    raise self.fail(spec["port"][1], f"actor {name}: port must be 1-65535")
                fields["port"] = int(fields["port"])
            if sum(1 for k in ("profile", "account", "jid") if k in fields) > 1:
                raise self.fail(knode, f"actor {name}: give one of 'profile', 'account' or "
                                       "'jid'")
            found.append(Actor(name, self.file, knode.start_mark.line + 1, **fields))
        if not found:
            raise self.fail(node, "a scenario needs at least one actor")
        return tuple(found)

    def steps(self, node: Any) -> tuple[Step, ...]:
        if not isinstance(node, self._yaml.SequenceNode) or not node.value:
            raise self.fail(node, "'steps' must be a non-empty list")
        return tuple(self.step(item) for item in node.value)

    def step(self, node: Any) -> Step:
        spec = self.mapping(node, "a step")
        kinds = [k for k in spec if k in STEP_KINDS]
        if len(kinds) != 1:
            unknown = [k for k in spec if k not in STEP_KINDS and k not in _ALL_OPTIONS]
            if unknown:
                raise self.fail(spec[unknown[0]][0], f"unknown step '{unknown[0]}' (steps: "
                                                     f"{', '.join(STEP_KINDS)})")
            raise self.fail(node, "a step names exactly one of: " + ", ".join(STEP_KINDS))
        kind = kinds[0]
        allowed = _STEP_OPTIONS[kind] + _COMMON_STEP_OPTIONS
        for key, (knode, _) in spec.items():
            if key != kind and key not in allowed:
                raise self.fail(knode, f"{kind}: unknown field '{key}'"
                                + (f" (allowed: {', '.join(allowed)})" if allowed else ""))
        head = spec[kind][1]
        line = node.start_mark.line + 1
        common: dict[str, Any] = {"file": self.file, "line": line}
        if "requires" in spec:
            common["requires"] = self.strings(spec["requires"][1], "requires")
        if "note" in spec:
            common["note"] = self.text(spec["note"][1], "note")
        if kind == "wait":
            return Step(kind, seconds=self.number(head, "wait"), **common)
        if kind == "set":
            values = tuple((name, self.text(v, f"set {name}"))
                           for name, (_, v) in self.mapping(head, "set").items())
            for name, _ in values:
                if not _NAME.match(name):
                    raise self.fail(head, f"set: variable name '{name}' is not usable")
            return Step(kind, values=values, **common)
        actor = self.text(head, kind)
        extra: dict[str, Any] = {}
        if "xml" in spec:
            xnode = spec["xml"][1]
            xml = self.text(xnode, f"{kind}: xml")
            # A block literal's text starts on the line after its '|'.
            xml_line = xnode.start_mark.line + 1 + (1 if xnode.style in ("|", ">") else 0)
            try:
                stanzas = parse_stanzas(xml)
            except XmlError as exc:
                raise ScenarioError(_xml_problem(self.file, xml_line, kind, exc, xml)) from None
            if not stanzas and kind != "expect-none":
                raise self.fail(xnode, f"{kind}: no stanza in 'xml'")
            extra.update(xml=xml, xml_line=xml_line)
        elif kind in ("send", "expect"):
            raise self.fail(node, f"{kind}: missing field 'xml' (the stanza, as a block "
                                  "literal: 'xml: |')")
        if kind == "expect":
            if "strict" in spec:
                strict = self.value(spec["strict"][1])
                if not isinstance(strict, bool):
                    raise self.fail(spec["strict"][1], "expect: strict must be true or false")
                extra["strict"] = strict
            if "timeout" in spec:
                extra["timeout"] = self.number(spec["timeout"][1], "expect: timeout")
        if kind == "expect-none":
            if "for" not in spec:
                raise self.fail(node, "expect-none: missing field 'for' (seconds to listen)")
            extra["seconds"] = self.number(spec["for"][1], "expect-none: for")
        return Step(kind, actor=actor, **extra, **common)


def _xml_problem(file: str, xml_line: int, kind: str, exc: XmlError, xml: str = "") -> str:
    """The parser's position turned into the file's line (the wrapper and the indentation
    of a block literal make its column meaningless, so only the line is kept)."""
    text = str(exc)
    found = re.search(r"\((.*), line (\d+), column \d+\)$", text)
    if not found:
        return f"{file}:{xml_line}: {kind}: {text}"
    line = xml_line + int(found.group(2)) - 1
    if xml:  # an element left open is reported where the block ends, not past it
        line = min(line, xml_line + max(len(xml.rstrip("\n").splitlines()), 1) - 1)
    return f"{file}:{line}: {kind}: XML not well-formed ({found.group(1)})"


_ALL_OPTIONS = {o for opts in _STEP_OPTIONS.values() for o in opts} | set(_COMMON_STEP_OPTIONS)


# ------------------------------------------------------------------------------ checks


def _checked(scenario: Scenario) -> Scenario:
    """Actors and variables are defined before use; warnings for what is defined but unused."""
    names = {a.name for a in scenario.actors}
    defined: set[str] = {f"{a}.{v}" for a in names for v in ACTOR_VARIABLES} | {RUN_ID}
    used_actors: set[str] = set()
    used_vars: set[str] = set()
    captured: dict[str, Step] = {}
    set_at: dict[str, Step] = {}

    def fail(step: Step, text: str) -> ScenarioError:
        return ScenarioError(f"{step.where()}: {text}")

    def need(step: Step, text: str) -> None:
        for var in variables_in(text):
            if var not in defined:
                head = var.split(".", 1)[0]
                if "." in var and head not in names:
                    raise fail(step, f"undefined actor '{head}' in ${{{var}}}")
                raise fail(step, f"undefined variable ${{{var}}}"
                           + (" (actors offer: " + ", ".join(ACTOR_VARIABLES) + ")"
                              if "." in var else " (define it with 'set' or a capture first)"))
            used_vars.add(var)
            if "." in var:
                used_actors.add(var.split(".", 1)[0])

    for step in scenario.steps:
        if step.actor is not None:
            if step.actor not in names:
                raise fail(step, f"{step.kind}: undefined actor '{step.actor}' (actors: "
                           f"{', '.join(sorted(names))})")
            used_actors.add(step.actor)
        for _, value in step.values:
            need(step, value)
        if step.xml is not None:
            need(step, step.xml)
            if step.kind == "send" and captures_in(step.xml):
                raise fail(step, "send: {capture:...} belongs in an expected stanza; use "
                                 "${NAME} to send a captured value")
        for name, _ in step.values:
            defined.add(name)
            set_at.setdefault(name, step)
        if step.kind == "expect" and step.xml:
            for name in captures_in(step.xml):
                defined.add(name)
                captured.setdefault(name, step)
    warnings = [f"{a.where()}: actor '{a.name}' is never used"
                for a in scenario.actors if a.name not in used_actors]
    warnings += [f"{s.where()}: variable '{n}' is set but never used"
                 for n, s in set_at.items() if n not in used_vars]
    from dataclasses import replace

    return replace(scenario, warnings=tuple(warnings))
