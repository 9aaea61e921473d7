"""Field and parameter names the session has seen, for completing ``--fields`` and ``set``.

The shell watches what arrives on its stream (a slixmpp incoming filter, which sees every
stanza and passes it on unchanged): XEP-0323 readout answers name their fields, and data
forms from devices (a XEP-0325 control form) name their parameters.  Nothing is asked for:
the names are those of the user's own earlier readouts and ``control form`` calls, kept per
device (bare JID) across reconnects, so a second readout completes what the first returned.
"""

from __future__ import annotations

import contextlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from xiot.xmpp.session import Session

SENSORDATA = "urn:xmpp:iot:sensordata"
DATA_FORM = "{jabber:x:data}x"
FIELD_TAGS = {f"{{{SENSORDATA}}}{name}" for name in (
    "numeric", "string", "boolean", "date", "dateTime", "duration", "enum", "int", "long",
    "time")}


class Learned:
    """Names per bare JID: ``fields`` from readouts, ``parameters`` from control forms."""

    def __init__(self) -> None:
        self.fields: dict[str, set[str]] = {}
        self.parameters: dict[str, set[str]] = {}

    def attach(self, session: Session) -> None:
        """Watch ``session``'s incoming stanzas (called for each new connection)."""
        session.client.add_filter("in", self.seen)

    def seen(self, stanza: Any) -> Any:
        """The filter: note names, hand the stanza on untouched."""
        with contextlib.suppress(Exception):  # learning must never disturb the stream
            self.learn(stanza.xml)
        return stanza

    def learn(self, xml: Any) -> None:
        sender = xml.get("from") or ""
        bare = sender.partition("/")[0]
        if "@" not in bare:
            return
        for child in xml:
            if child.tag.startswith(f"{{{SENSORDATA}}}"):
                names = {e.get("name") for e in child.iter() if e.tag in FIELD_TAGS}
                names.discard(None)
                if names:
                    self.fields.setdefault(bare, set()).update(names)  # type: ignore[arg-type]
            if xml.get("type") == "result":
                for form in child.iter(DATA_FORM):
                    found = {f.get("var") for f in form if f.get("var")}
                    found.discard("FORM_TYPE")
                    if found:
                        self.parameters.setdefault(bare, set()).update(found)  # type: ignore

    def names(self, kind: str, jids: list[str]) -> list[str]:
        """Sorted names of ``kind`` for these devices (all devices when none is named)."""
        table = self.fields if kind == "fields" else self.parameters
        bares = [j.partition("/")[0] for j in jids] or list(table)
        found: set[str] = set()
        for bare in bares:
            found |= table.get(bare, set())
        return sorted(found)
