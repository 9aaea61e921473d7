"""XEP-0133 service administration over XEP-0050 ad-hoc commands.

Only what xiot needs: find which admin commands the server offers this account, and run one
with a filled-in form (execute, then complete with the values).  Prosody's ``mod_admin_adhoc``
and ejabberd's ``mod_configure`` both speak it; which commands exist differs (see
``reference/cli-anchors.md`` 4.6), so callers discover before they use.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from xiot.errors import RemoteError, Timeout
from xiot.xmpp.errors import iq_error_text
from xiot.xmpp.forms import DataForm, FormField, build_form, parse_form

if TYPE_CHECKING:
    from xiot.xmpp.session import Session

ADMIN = "http://jabber.org/protocol/admin"
COMMANDS = "http://jabber.org/protocol/commands"
_COMMAND = f"{{{COMMANDS}}}command"


@dataclass(frozen=True)
class CommandResult:
    status: str  # completed | executing | canceled
    form: DataForm | None
    notes: tuple[tuple[str, str], ...] = ()

    @property
    def error(self) -> str | None:
        """The text of an ``error`` note: the command ran but refused (e.g. user exists)."""
        return next((text for kind, text in self.notes if kind == "error"), None)


async def offered(session: Session, timeout: float, to: str | None = None) -> set[str]:
    """The ad-hoc command nodes the server lists for this account (empty if none)."""
    from xiot.errors import XiotError
    from xiot.xmpp.disco import get_items

    try:
        items = await get_items(session, to or session.jid.domain, COMMANDS, timeout)
    except XiotError:
        return set()
    return {item.node for item in items.items if item.node}


def admin_node(name: str) -> str:
    return f"{ADMIN}#{name}"


async def execute(session: Session, node: str, values: Mapping[str, Any], timeout: float,
                  to: str | None = None) -> CommandResult:
    """Run command ``node`` on the server: execute it, then complete it with ``values``."""
    to = to or session.jid.domain
    first = await _send(session, to, node, {"action": "execute"}, None, timeout)
    if first.status != "executing":
        return first.result
    fields = [FormField("FORM_TYPE", "hidden", values=(ADMIN,))]
    fields += [FormField(var, values=_lexical(value)) for var, value in values.items()]
    form = build_form(fields, form_type="submit")
    final = await _send(session, to, node, {"action": "complete", "sessionid": first.session},
                        form, timeout)
    return final.result


@dataclass(frozen=True)
class _Answer:
    status: str
    session: str
    result: CommandResult


async def _send(session: Session, to: str, node: str, attrs: dict[str, str],
                form: ET.Element | None, timeout: float) -> _Answer:
    from slixmpp.exceptions import IqError, IqTimeout

    iq = session.client.make_iq_set(ito=to)
    command = ET.SubElement(iq.xml, _COMMAND, {"node": node, **attrs})
    if form is not None:
        command.append(form)
    try:
        answer = await session.guard(iq.send(timeout=timeout))
    except IqTimeout:
        raise Timeout(f"{to} did not answer the command {node} within {timeout:g}s",
                      "Raise --timeout") from None
    except IqError as exc:
        condition, text = iq_error_text(exc)
        raise RemoteError(f"{to} refused the command {node.rsplit('#', 1)[-1]}: {condition}"
                          + (f" ({text})" if text else ""),
                          _hint(condition), condition=condition) from None
    element = answer.xml.find(_COMMAND)
    if element is None:
        raise RemoteError(f"{to} answered the command {node} without a command element")
    found = element.find("{jabber:x:data}x")
    notes = tuple((n.get("type", "info"), (n.text or "").strip())
                  for n in element.findall(f"{{{COMMANDS}}}note"))
    status = element.get("status", "completed")
    result = CommandResult(status, parse_form(found) if found is not None else None, notes)
    return _Answer(status, element.get("sessionid", ""), result)


def _lexical(value: Any) -> tuple[str, ...]:
    if isinstance(value, bool):
        return ("1" if value else "0",)
    if isinstance(value, list | tuple):
        return tuple(str(v) for v in value)
    return (str(value),)


def _hint(condition: str) -> str:
    if condition in ("forbidden", "not-authorized"):
        return "Admin commands need an admin account of the server (a profile listed in its " \
               "'admins')"
    if condition in ("item-not-found", "service-unavailable", "feature-not-implemented"):
        return "The server does not offer this XEP-0133 command"
    return "See the error condition in RFC 6120 section 8.3.3"
