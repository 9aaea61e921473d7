"""What the network says while the user types: messages and PubSub notifications, one line
each, printed above the prompt (presence changes are printed by ``repl``).

Text from the network goes through ``output.terminal_safe`` (no control characters reach
the terminal).  While a command runs, messages are left to it: a ``pubsub`` watch prints its
own events, and printing them twice would only confuse; so does a ``pubsub watch`` running
as a background job, for notifications.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from xiot.output import terminal_safe

if TYPE_CHECKING:
    from xiot.runtime import Environment
    from xiot.shell.engine import Shell
    from xiot.xmpp.session import Session

_BODY = "{jabber:client}body"
_EVENT = "{http://jabber.org/protocol/pubsub#event}event"


def event_lines(xml: Any) -> list[str]:
    """The lines one incoming message is shown as (none for what is not worth a line)."""
    sender = terminal_safe(xml.get("from") or "?")
    if xml.find(_EVENT) is not None:
        from xiot.pubsub.events import parse_events

        return [f"* pubsub {terminal_safe(e.event)} on {terminal_safe(e.node)} "
                f"({terminal_safe(e.service)})" + (f" id {terminal_safe(e.id)}" if e.id else "")
                for e in parse_events(xml)]
    body = xml.findtext(_BODY)
    if body:
        first, *rest = body.strip().splitlines() or [""]
        more = f" (+{len(rest)} lines)" if rest else ""
        return [f"* message from {sender}: {terminal_safe(first)}{more}"]
    return []


def print_messages(session: Session, shell: Shell, env: Environment) -> None:
    """Show incoming messages and notifications while the prompt waits."""

    def on_message(message: Any) -> None:
        if shell.running.futures:
            return
        if message.xml.find(_EVENT) is not None and shell.jobs.watching_pubsub():
            return  # a background 'pubsub watch' prints them, as [N] lines
        for line in event_lines(message.xml):
            env.stdout.write(line + "\n")
        env.stdout.flush()

    session.client.add_event_handler("message", on_message)
