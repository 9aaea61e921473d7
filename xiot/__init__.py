"""xiot: a command-line toolkit for XMPP-based IoT networks."""

__version__ = "0.1.0"
