"""XEP-0323 sensor data (``urn:xmpp:iot:sensordata``), one concern per module.

Target is version 0.6 (identical on the wire to 0.4/0.5).  Older peers are read tolerantly
(reference §9.2): ``rejected`` as a rejection, ``timeSpan`` as ``duration``, ``identification``
as ``identity``, a missing ``unit``, booleans written ``1``/``0``, no ``accepted``,
``fields``/``failure``/``started`` inside the IQ result, a separate ``done`` message, and
``cancel`` in an iq get or set.  We only ever emit the 0.6 form.

- ``stanzas``: the namespace and slixmpp stanza classes, registered on import.
- ``wire``: building and parsing ``req``, ``fields`` and ``failure`` (pure XML, no stream).
- ``client``: reading devices over a ``Session`` (``read``, ``read_many``, ``cancel``).
- ``device``: answering readouts (``SensorServer``), for simulated devices and gateways.

Imports run one way: ``stanzas`` <- ``wire`` <- ``client`` / ``device``.  This package
imports nothing from itself on import, so a device-only user never loads the client.
"""
