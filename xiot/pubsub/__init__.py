"""XEP-0060 PubSub (and XEP-0163 PEP, XEP-0248 collections where offered) as typed operations.

Every operation takes a ``Session`` and a ``Target`` (``core.target()``: the service and its
features) and returns frozen dataclasses from ``model``:

- ``nodes``: list (``tree`` walks collections), info, create, delete, purge, configuration
  get/set/default with values checked against the server's form (``config``);
- ``items``: publish (with publish-options), fetch, retract;
- ``subscriptions``: subscribe/unsubscribe, one's own and a node's subscriptions and
  affiliations, pending approval;
- ``events``: notifications parsed, and ``Watch`` over a set of nodes;
- ``apply``: make a node tree, its configuration and affiliations match a description;
- ``payload``: XML payloads parsed without DTDs, JSON in XEP-0335 containers.
"""
