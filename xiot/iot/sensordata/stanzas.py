"""XEP-0323 stanza classes on slixmpp's ``ElementBase``, registered on ``Iq`` and ``Message``.

slixmpp ships ``xep_0323``, but it follows the 0.1/0.2 model and crashes on partial readouts,
so xiot defines its own classes.  Their plugin attributes are prefixed ``iot_`` so they never
collide with slixmpp's plugin if someone loads it anyway.
"""

from __future__ import annotations

from typing import ClassVar

from slixmpp import Iq, Message
from slixmpp.xmlstream import ElementBase, register_stanza_plugin

from xiot.iot.elements import flag, set_flag

NS = "urn:xmpp:iot:sensordata"
#: Every element of the namespace starts with this Clark-name prefix.
NS_PREFIX = "{" + NS + "}"


def q(tag: str) -> str:
    """The Clark name of a sensor-data element."""
    return f"{NS_PREFIX}{tag}"


class _SeqnrElement(ElementBase):
    """Base for every element correlated by ``seqnr``; exposes it as an int."""

    namespace = NS
    interfaces: ClassVar[set[str]] = {"seqnr"}

    def get_seqnr(self) -> int | None:
        try:
            return int(self.xml.get("seqnr", ""))
        except ValueError:
            return None

    def set_seqnr(self, value: int) -> None:
        self.xml.set("seqnr", str(int(value)))


class _DoneFlag(_SeqnrElement):
    interfaces: ClassVar[set[str]] = {"seqnr", "done"}

    def get_done(self) -> bool:
        return flag(self.xml, "done")

    def set_done(self, value: bool) -> None:
        set_flag(self.xml, "done", value)


class Req(_SeqnrElement):
    """``req``: the readout request (iq get, client to device)."""

    name = "req"
    plugin_attrib = "iot_req"


class Accepted(_SeqnrElement):
    """``accepted``: the device took the request; ``queued`` if it will run later."""

    name = "accepted"
    plugin_attrib = "iot_accepted"
    interfaces: ClassVar[set[str]] = {"seqnr", "queued"}

    def get_queued(self) -> bool:
        return flag(self.xml, "queued")

    def set_queued(self, value: bool) -> None:
        set_flag(self.xml, "queued", value)


class Started(_SeqnrElement):
    """``started``: a queued request began (message)."""

    name = "started"
    plugin_attrib = "iot_started"


class Fields(_DoneFlag):
    """``fields``: part of the readout (message), ``done`` on the last one."""

    name = "fields"
    plugin_attrib = "iot_fields"


class Failure(_DoneFlag):
    """``failure``: errors for part of the readout (message)."""

    name = "failure"
    plugin_attrib = "iot_failure"


class Done(_SeqnrElement):
    """``done``: a separate end-of-readout marker (message)."""

    name = "done"
    plugin_attrib = "iot_done"


class Cancel(_SeqnrElement):
    """``cancel``: the client withdraws a (queued) request."""

    name = "cancel"
    plugin_attrib = "iot_cancel"


class Cancelled(_SeqnrElement):
    """``cancelled``: the device's answer to ``cancel``."""

    name = "cancelled"
    plugin_attrib = "iot_cancelled"


class Rejected(_SeqnrElement):
    """``rejected``: the 0.1/0.2 rejection payload inside an iq error (read, never sent)."""

    name = "rejected"
    plugin_attrib = "iot_rejected"


_IQ_PAYLOADS = (Req, Accepted, Started, Fields, Failure, Done, Cancel, Cancelled, Rejected)
_MESSAGE_PAYLOADS = (Started, Fields, Failure, Done)


def register_stanzas() -> None:
    """Register the sensor-data payloads on ``Iq`` and ``Message`` (idempotent)."""
    for payload in _IQ_PAYLOADS:
        register_stanza_plugin(Iq, payload)
    for payload in _MESSAGE_PAYLOADS:
        register_stanza_plugin(Message, payload)


register_stanzas()
