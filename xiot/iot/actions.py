"""Control actions as the command line means them: resolve the device, type the values, set.

``xiot control dev@x set Output=true`` gives no types; the device's own control form says what
each parameter is, so the form is fetched first unless every value carries ``:type``.  A
device that offers no form gets types inferred from the literals, and says so in the log.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from xiot.errors import CheckFailed, RemoteError, Timeout, UsageError
from xiot.iot.model import ControlParameter, ControlResult
from xiot.xmpp.forms import DataForm
from xiot.xmpp.jid import Jid

if TYPE_CHECKING:
    from xiot.xmpp.session import Session

log = logging.getLogger("xiot")


@dataclass(frozen=True)
class Assignment:
    """``name[:type]=value`` as typed; ``type`` is None when the user left it to the device."""

    name: str
    type: str | None
    text: str

    @classmethod
    def parse(cls, text: str) -> Assignment:
        from xiot.errors import UsageError

        left, sep, value = text.partition("=")
        name, _, kind = left.partition(":")
        if not sep or not name.strip():
            raise UsageError(f"expected NAME=VALUE or NAME:TYPE=VALUE, got '{text}'",
                             "For example: Output=true  Setpoint:double=21.5")
        return cls(name.strip(), kind.strip() or None, value)


async def resolve_device(session: Session, jid: Jid, timeout: float) -> str:
    """The full JID to address; CheckFailed (exit 1) when the device cannot be reached."""
    from xiot.presence.resolve import resolve_targets

    (target,) = await resolve_targets(session, [jid], timeout)
    if target.jid is None:
        raise CheckFailed(target.reason or f"{jid} is not reachable",
                          "Check that the device is online (xiot readout shows it)")
    return target.jid


#: How people write booleans, and what tables show (yes/no): the wire wants true/false.
BOOLEAN_WORDS = {"true": "true", "yes": "true", "on": "true", "1": "true",
                 "false": "false", "no": "false", "off": "false", "0": "false"}


def boolean_text(text: str) -> str:
    """``yes``/``on``/``1`` -> ``true``, ``no``/``off``/``0`` -> ``false``; else unchanged,
    so the type check names the bad value."""
    return BOOLEAN_WORDS.get(text.strip().lower(), text)


def is_boolean_word(text: str) -> bool:
    """``yes``, ``off``, ``True``...: a word that can only mean a boolean (``1``/``0`` are
    numbers too, so they are not)."""
    return text.strip().lower() in BOOLEAN_WORDS and not text.strip().isdigit()


def infer_type(text: str) -> str:
    """The XEP-0325 type a literal most likely means, for devices without a form."""
    if is_boolean_word(text):
        return "boolean"
    try:
        int(text)
        return "int"
    except ValueError:
        pass
    try:
        float(text)
        return "double"
    except ValueError:
        return "string"


async def typed_parameters(
    session: Session, jid: str, assignments: Sequence[Assignment], nodes: Sequence[str],
    timeout: float,
) -> tuple[ControlParameter, ...]:
    """Typed parameters: explicit types as given, the rest typed by the control form."""
    if all(a.type for a in assignments):
        return tuple(_typed(a.name, a.type or "string", a.text) for a in assignments)
    from xiot.iot.control.client import get_form, parameters_from_form

    try:
        form = await get_form(session, jid, nodes=nodes, timeout=timeout)
    except (RemoteError, Timeout) as exc:
        log.info("no control form from %s (%s); inferring types from the values", jid,
                 exc.message)
        return tuple(_typed(a.name, a.type or infer_type(a.text), a.text)
                     for a in assignments)
    untyped = {a.name: _for_field(form, a.name, a.text) for a in assignments if not a.type}
    from_form = {p.name: p for p in parameters_from_form(form, untyped)}
    return tuple(
        _typed(a.name, a.type, a.text) if a.type else from_form[a.name]
        for a in assignments
    )


def _typed(name: str, kind: str, text: str) -> ControlParameter:
    return ControlParameter(name, kind, boolean_text(text) if kind == "boolean" else text)


def _for_field(form: DataForm, name: str, text: str) -> str:
    """A value as the form's field wants it: booleans written as people write them."""
    field = form.field(name)
    return boolean_text(text) if field is not None and field.parameter_type == "boolean" \
        else text


async def control_set(
    session: Session, jid: Jid, assignments: Sequence[Assignment], nodes: Sequence[str],
    use_message: bool = False, timeout: float | None = None,
) -> ControlResult:
    """Resolve the device, type the values from its form, and set them in one request."""
    from xiot.iot.control.client import check_finite, check_node_ids, set_parameters

    # What can be refused without the device is refused before anything goes on the wire.
    check_node_ids(nodes)
    check_finite(ControlParameter(a.name, a.type, a.text) for a in assignments if a.type)
    timeout = session.settings.timeout if timeout is None else timeout
    full = await resolve_device(session, jid, timeout)
    params = await typed_parameters(session, full, assignments, nodes, timeout)
    return await set_parameters(session, full, params, nodes=nodes, use_message=use_message,
                                timeout=timeout)


async def control_many(
    session: Session, jids: Sequence[Jid], assignments: Sequence[Assignment],
    nodes: Sequence[str], use_message: bool = False, concurrency: int = 50,
    timeout: float | None = None,
) -> AsyncIterator[ControlResult]:
    """The same change on many devices over one connection, results as each device answers.

    A device that cannot be reached or refuses is a result with ``ok`` false, never an
    exception, so one bad device does not stop the fleet; input that no device could accept
    (an empty node, a non-finite value) is refused before anything is sent.
    """
    from xiot.fanout import bounded
    from xiot.iot.control.client import check_finite, check_node_ids

    check_node_ids(nodes)
    check_finite(ControlParameter(a.name, a.type, a.text) for a in assignments if a.type)
    timeout = session.settings.timeout if timeout is None else timeout
    await resolve_targets_once(session, jids, timeout)

    async def one(jid: Jid) -> ControlResult:
        try:
            return await control_set(session, jid, assignments, nodes, use_message, timeout)
        except (CheckFailed, RemoteError, Timeout, UsageError) as exc:
            return ControlResult(str(jid), False, error=exc.message,
                                 condition=getattr(exc, "condition", None))

    async for result in bounded(jids, one, concurrency):
        yield result


async def resolve_targets_once(session: Session, jids: Sequence[Jid], timeout: float) -> None:
    """Announce presence and wait for the fleet's presences once, for all bare JIDs at once
    (each device's own resolution then finds its resource without waiting)."""
    from xiot.presence.resolve import resolve_targets

    if any(not j.is_full for j in jids):
        await resolve_targets(session, jids, timeout)


async def control_form(session: Session, jid: Jid, nodes: Sequence[str],
                       timeout: float | None = None) -> DataForm:
    """The device's control form (after resolving a bare JID from presence)."""
    from xiot.iot.control.client import check_node_ids, get_form

    check_node_ids(nodes)
    timeout = session.settings.timeout if timeout is None else timeout
    full = await resolve_device(session, jid, timeout)
    return await get_form(session, full, nodes=nodes, timeout=timeout)


FORM_COLUMNS = ("name", "type", "value", "label", "min", "max", "options", "required")


def form_rows(form: DataForm, all_fields: bool = False) -> list[dict[str, Any]]:
    """The form's parameters as rows: what can be set, its type, range and current value."""
    rows = []
    for f in form.fields if all_fields else form.parameters:
        if f.type in ("hidden", "fixed"):
            continue
        rows.append({
            "name": f.var, "type": f.parameter_type or f.type, "value": f.value,
            "label": f.label, "min": f.minimum, "max": f.maximum,
            "options": ",".join(o.value for o in f.options), "required": f.required,
        })
    return rows
