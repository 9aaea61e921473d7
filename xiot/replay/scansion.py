"""Scansion scripts (``.scs``) in and out: existing suites run here unchanged.

A scansion script is a small play: optional ``#`` title and description lines and ``##`` tags,
``[Client] Name`` characters with indented ``key: value`` properties, a line of dashes, then
one action per paragraph (``Name connects``, ``Name sends:`` or ``Name receives:`` with
indented XML, ``Name receives: nothing``, ``Name disconnects``).  Lines starting with ``#``,
``//`` or ``--`` are comments; the colon after ``sends``/``receives`` is optional, as suites
in the wild omit it.  ``${Name's full JID}``/``${Name's JID}`` become actor variables and
``{scansion:any}``/``{scansion:capture:NAME}`` the matcher's own wildcards, which follow the
same rules (scansion's ``scansion:strict`` switch is understood by the matcher as is).

Character passwords are kept on the in-memory ``Actor`` only, to run the script against the
throw-away server it was written for; ``to_yaml`` never writes them.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from xiot.replay.model import (
    REPLAY_NS,
    RUN_ID,
    Actor,
    Scenario,
    ScenarioError,
    Step,
    _checked,
    _xml_problem,
    parse_stanzas,
)
from xiot.xmlsafe import XmlError

__all__ = ["load_scs", "parse_scs", "to_scs", "to_yaml"]

_COMMENT = ("#", "//", "--")
_SEPARATOR = re.compile(r"^-{3,}\s*$")
_CLIENT = re.compile(r"^\[(Client|Component)\]\s*(.+?)\s*$")
_PROPERTY = re.compile(r"^\s+([A-Za-z_]+)\s*:\s*(.*?)\s*$")
_VERBS = ("connects", "disconnects", "sends", "receives")
_SCS_VARIABLE = re.compile(r"\$\{(.+?)'s (full JID|JID)\}")


@dataclass
class _Block:
    """An action being read: who, what, where, and its indented XML lines."""

    actor: str
    verb: str
    line: int
    rest: str
    xml: list[str]
    xml_line: int = 0


def load_scs(path: Path | str) -> Scenario:
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ScenarioError(f"{path}: cannot read ({exc})") from None
    return parse_scs(text, str(path))


def _ident(name: str) -> str:
    """A character name ('Juliet's phone') as an actor name (``juliet_s_phone``)."""
    text = re.sub(r"[^A-Za-z0-9_]+", "_", name).strip("_").lower() or "actor"
    return text if not text[0].isdigit() else f"a_{text}"


def parse_scs(text: str, file: str = "<scs>") -> Scenario:
    """A scansion script as a checked ``Scenario`` (``ScenarioError`` with file:line)."""
    lines = text.splitlines()
    title: list[str] = []
    tags: list[str] = []
    characters: dict[str, dict[str, Any]] = {}
    current: dict[str, Any] | None = None
    index = 0
    header = True
    # -- metadata and characters, up to the line of dashes
    while index < len(lines):
        raw = lines[index]
        number = index + 1
        index += 1
        stripped = raw.strip()
        if _SEPARATOR.match(stripped):
            break
        if not stripped:
            current = None
            continue
        if stripped.startswith("##") and header:
            tags.append(stripped[2:].strip())
            continue
        if stripped.startswith("#") and header and not characters:
            title.append(stripped[1:].strip())
            continue
        if stripped.startswith(_COMMENT):
            continue
        header = False
        found = _CLIENT.match(stripped)
        if found:
            name = found.group(2)
            current = {"line": number, "kind": found.group(1)}
            characters[name] = current
            continue
        prop = _PROPERTY.match(raw)
        if prop and current is not None:
            current[prop.group(1)] = prop.group(2)
            continue
        raise ScenarioError(f"{file}:{number}: expected a [Client] declaration, a property "
                            "or a line of dashes")
    if not characters:
        raise ScenarioError(f"{file}:1: no [Client] characters declared")
    actors = _actors(characters, file)
    names = {name: _ident(name) for name in characters}
    steps = [_step(block, names, file) for block in _blocks(lines, index, names, file)]
    if not steps:
        raise ScenarioError(f"{file}:{len(lines)}: no actions after the line of dashes")
    name = title[0] if title else Path(file).stem
    scenario = Scenario(name=name, file=file, line=1, actors=tuple(actors), steps=tuple(steps),
                        tags=tuple(tags), description=" ".join(title[1:2]) or None)
    return _checked(scenario)


def _actors(characters: dict[str, dict[str, Any]], file: str) -> list[Actor]:
    actors = []
    for name, props in characters.items():
        if props["kind"] != "Client":
            raise ScenarioError(f"{file}:{props['line']}: [{props['kind']}] characters are "
                                "not supported (only [Client])")
        jid = props.get("jid")
        if not jid:
            raise ScenarioError(f"{file}:{props['line']}: character {name!r} has no jid")
        bare, _, resource = jid.partition("/")
        port = props.get("connect_port")
        if port is not None and not port.isdigit():
            raise ScenarioError(f"{file}:{props['line']}: connect_port must be a number")
        actors.append(Actor(_ident(name), file, props["line"], jid=bare,
                            resource=props.get("resource") or resource or None,
                            host=props.get("connect_host"),
                            port=int(port) if port else None,
                            password=props.get("password")))
    return actors


def _blocks(lines: list[str], start: int, names: dict[str, str], file: str) -> list[_Block]:
    """The actions after the separator, each with its indented XML lines."""
    blocks: list[_Block] = []
    ordered = sorted(names, key=len, reverse=True)
    pattern = re.compile(r"^(" + "|".join(re.escape(n) for n in ordered) + r")\s+("
                         + "|".join(_VERBS) + r")\b(:?)\s*(.*?)\s*$")
    block: _Block | None = None
    for index in range(start, len(lines)):
        raw = lines[index]
        stripped = raw.strip()
        if block is not None and raw[:1] in (" ", "\t") and stripped \
                and not stripped.startswith(("//", "--")):
            if not block.xml:
                block.xml_line = index + 1
            block.xml.append(raw)
            continue
        if not stripped or stripped.startswith(_COMMENT):
            continue
        found = pattern.match(stripped)
        if not found:
            raise ScenarioError(f"{file}:{index + 1}: expected '<Name> connects|sends:|"
                                f"receives:|disconnects' (characters: {', '.join(names)})")
        block = _Block(found.group(1), found.group(2), index + 1, found.group(4), [])
        blocks.append(block)
    return blocks


def _variables(text: str, names: dict[str, str], file: str, line: int) -> str:
    def one(found: re.Match[str]) -> str:
        who = names.get(found.group(1))
        if who is None:
            raise ScenarioError(f"{file}:{line}: undefined character {found.group(1)!r} in "
                                f"{found.group(0)}")
        return "${" + who + (".full_jid" if found.group(2) == "full JID" else ".jid") + "}"
    text = _SCS_VARIABLE.sub(one, text)
    text = text.replace("{scansion:any}", "{any}")
    return re.sub(r"\{scansion:capture:([A-Za-z_][\w-]*)\}", r"{capture:\1}", text)


def _dedent(lines: list[str]) -> str:
    import textwrap

    return textwrap.dedent("\n".join(line.expandtabs(2) for line in lines)).strip() + "\n"


def _step(block: _Block, names: dict[str, str], file: str) -> Step:
    actor = names[block.actor]
    if block.verb in ("connects", "disconnects"):
        if block.xml:
            raise ScenarioError(f"{file}:{block.xml_line}: XML under '{block.verb}'")
        return Step("connect" if block.verb == "connects" else "disconnect", file, block.line,
                    actor=actor)
    if block.verb == "receives" and block.rest.lower() == "nothing":
        if block.xml:
            raise ScenarioError(f"{file}:{block.xml_line}: XML under 'receives: nothing'")
        return Step("expect-none", file, block.line, actor=actor, seconds=1.0)
    if block.rest:
        raise ScenarioError(f"{file}:{block.line}: unexpected {block.rest!r} after "
                            f"'{block.verb}'")
    if not block.xml:
        raise ScenarioError(f"{file}:{block.line}: '{block.verb}' without an XML stanza")
    xml = _variables(_dedent(block.xml), names, file, block.line)
    kind = "send" if block.verb == "sends" else "expect"
    try:
        parse_stanzas(xml)
    except XmlError as exc:
        raise ScenarioError(_xml_problem(file, block.xml_line, kind, exc, xml)) from None
    return Step(kind, file, block.line, actor=actor, xml=xml, xml_line=block.xml_line)


# ------------------------------------------------------------------------------ writing


class _Literal(str):
    """A string YAML writes as a block literal (``|``)."""


def to_yaml(scenario: Scenario) -> str:
    """The scenario as our YAML (passwords are never written)."""
    import yaml

    class Dumper(yaml.SafeDumper):
        pass

    Dumper.add_representer(_Literal, lambda d, v: d.represent_scalar(
        "tag:yaml.org,2002:str", str(v), style="|"))
    doc: dict[str, Any] = {"name": scenario.name}
    if scenario.description:
        doc["description"] = scenario.description
    for key in ("tags", "requires"):
        if getattr(scenario, key):
            doc[key] = list(getattr(scenario, key))
    if scenario.timeout is not None:
        doc["timeout"] = scenario.timeout
    if scenario.lab:
        doc["lab"] = scenario.lab
    doc["actors"] = {a.name: {k: getattr(a, k) for k in ("profile", "lab", "account", "jid",
                                                         "resource", "host", "port")
                              if getattr(a, k) is not None} or None
                     for a in scenario.actors}
    doc["steps"] = [_step_doc(step) for step in scenario.steps]
    return yaml.dump(doc, Dumper=Dumper, sort_keys=False, allow_unicode=True, width=100)


def _step_doc(step: Step) -> dict[str, Any]:
    if step.kind == "wait":
        return {"wait": step.seconds}
    if step.kind == "set":
        return {"set": dict(step.values)}
    doc: dict[str, Any] = {step.kind: step.actor}
    if step.kind == "expect-none":
        doc["for"] = step.seconds
    if step.timeout is not None:
        doc["timeout"] = step.timeout
    if step.strict:
        doc["strict"] = True
    if step.xml is not None:
        doc["xml"] = _Literal(step.xml if step.xml.endswith("\n") else step.xml + "\n")
    if step.requires:
        doc["requires"] = list(step.requires)
    return doc


def to_scs(scenario: Scenario) -> str:
    """The scenario as a scansion script; ``ScenarioError`` for what scansion cannot say."""
    out = [f"# {scenario.name}"]
    if scenario.description:
        out.append(f"# {scenario.description}")
    out += [f"## {tag}" for tag in scenario.tags]
    names = {a.name: a.name.replace("_", " ").capitalize() for a in scenario.actors}
    for actor in scenario.actors:
        out += ["", f"[Client] {names[actor.name]}"]
        if actor.jid:
            out.append(f"\tjid: {actor.jid}")
        else:
            source = (f"profile {actor.profile}" if actor.profile else
                      f"lab account {actor.account}" if actor.account else "the profile")
            out.append(f"\t# jid: the JID of {source}")
        out.append("\tpassword: password")
        if actor.resource:
            out.append(f"\tresource: {actor.resource}")
        if actor.host:
            out.append(f"\tconnect_host: {actor.host}")
        if actor.port:
            out.append(f"\tconnect_port: {actor.port}")
    out += ["", "-----"]
    for step in scenario.steps:
        out += ["", *_scs_action(step, names)]
    return "\n".join(out) + "\n"


def _scs_action(step: Step, names: dict[str, str]) -> list[str]:
    def fail(text: str) -> ScenarioError:
        return ScenarioError(f"{step.where()}: {text} (scansion has no equivalent)")

    if step.kind in ("wait", "set") or step.requires or step.timeout or step.strict:
        raise fail(f"{step.kind}" + (" with requires/timeout/strict" if step.kind not in
                                     ("wait", "set") else ""))
    who = names[step.actor or ""]
    if step.kind == "connect":
        return [f"{who} connects"]
    if step.kind == "disconnect":
        return [f"{who} disconnects"]
    if step.kind == "expect-none":
        if step.xml:
            raise fail("expect-none with a filter")
        return [f"{who} receives: nothing"]
    xml = step.xml or ""
    if RUN_ID in xml:
        raise fail(f"${{{RUN_ID}}}")

    def variable(found: re.Match[str]) -> str:
        actor, _, attribute = found.group(1).partition(".")
        if actor not in names or attribute not in ("jid", "full_jid"):
            raise fail(f"${{{found.group(1)}}}")
        return "${" + names[actor] + ("'s full JID}" if attribute == "full_jid" else "'s JID}")

    xml = re.sub(r"\$\{([^}]+)\}", variable, xml)
    xml = xml.replace("{any}", "{scansion:any}")
    xml = re.sub(r"\{capture:([A-Za-z_][\w-]*)\}", r"{scansion:capture:\1}", xml)
    xml = xml.replace("replay:strict=", "scansion:strict=")
    if REPLAY_NS in xml:
        raise fail("the replay namespace")
    verb = "sends:" if step.kind == "send" else "receives:"
    return [f"{who} {verb}", *("\t" + line for line in xml.strip().splitlines())]
