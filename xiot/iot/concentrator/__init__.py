"""XEP-0326 concentrators (``urn:xmpp:iot:concentrators``, version 0.4): a read-only subset.

A concentrator is one JID in front of many nodes grouped in data sources.  This package covers
what an operator needs to find nodes: capabilities, the data-source tree, node lookup and
node-parameter forms.  Reading and controlling nodes is plain XEP-0323/0325 with ``node``
elements (see ``sensordata.client.read`` and ``control.client.set_parameters``).

Unlike 0323/0325, XEP-0326 never moved to standard stanza errors: each ``XResponse`` carries
``result='OK|NotFound|InsufficientPrivileges|Locked|NotImplemented|FormError|OtherError'`` and a
failure is an iq error carrying that response with ``<error var>`` children.  The client
accepts both that and a plain stanza error; the device sends both at once.  Node elements in
responses use ``nodeId`` in the XEP text but ``id`` in some implementations; both are read.

- ``model``: the result types (data sources, nodes, node messages).
- ``stanzas``: the namespace, the operations and their request elements.
- ``wire``: data sources, nodes and refusals encoded and decoded.
- ``client``: the browsing operations over a ``Session``.
- ``device``: answering them from in-memory data (``ConcentratorServer``).

Imports run one way: ``model``, ``stanzas`` <- ``wire`` <- ``client`` / ``device``.
"""
