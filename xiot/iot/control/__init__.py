"""XEP-0325 control (``urn:xmpp:iot:control``, version 0.5.1), one concern per module.

On the wire 0.5.1 equals 0.3: a ``set`` with typed parameters (by message, unacknowledged, or
by iq), an empty ``setResponse`` on success (or one listing what was actually applied),
standard stanza errors with ``paramError`` children naming the failing parameters, and
``getForm`` answered by a bare XEP-0004 form.  Responses from 0.1/0.2 peers (slixmpp's
plugin among them) are read tolerantly: ``setResponse`` with ``responseCode`` or ``result`` and
``<error var>`` children, in an iq result or error; ``paramError`` with ``n`` instead of ``var``.

- ``stanzas``: the namespace and slixmpp stanza classes, registered on import.
- ``wire``: ``set`` and the control form built and parsed, answers interpreted.
- ``client``: setting parameters and fetching the form over a ``Session``.
- ``device``: answering control requests (``ControlServer``) on a device's stream.

Imports run one way: ``stanzas`` <- ``wire`` <- ``client`` / ``device``.
"""
