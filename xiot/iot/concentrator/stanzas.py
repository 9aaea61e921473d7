"""XEP-0326 request elements: one tiny stanza class per operation, registered on ``Iq``."""

from __future__ import annotations

from slixmpp import Iq
from slixmpp.xmlstream import ElementBase, register_stanza_plugin

NS = "urn:xmpp:iot:concentrators"

#: The operations this package's client and device implement.
OPERATIONS: tuple[str, ...] = (
    "getCapabilities",
    "getAllDataSources",
    "getRootDataSources",
    "getChildDataSources",
    "containsNode",
    "containsNodes",
    "getNode",
    "getNodes",
    "getAllNodes",
    "getRootNodes",
    "getChildNodes",
    "getNodeParametersForEdit",
)


def q(tag: str) -> str:
    """The Clark name of a concentrator element."""
    return f"{{{NS}}}{tag}"


def _make_request_class(operation: str) -> type[ElementBase]:
    """One tiny ElementBase per operation, so ``iq['iot_c_getNode']`` builds and matches it."""
    return type(
        operation[0].upper() + operation[1:],
        (ElementBase,),
        {"name": operation, "namespace": NS, "plugin_attrib": f"iot_c_{operation}"},
    )


REQUEST_CLASSES: dict[str, type[ElementBase]] = {op: _make_request_class(op) for op in OPERATIONS}


def register_stanzas() -> None:
    """Register request elements on ``Iq`` (idempotent); responses are read as raw XML."""
    for cls in REQUEST_CLASSES.values():
        register_stanza_plugin(Iq, cls)


register_stanzas()
