"""The PubSub integration tests run against each lab server: Prosody and ejabberd."""

from tests.integration.pubsub.labs import ejabberd_lab, server  # noqa: F401  (fixtures)
