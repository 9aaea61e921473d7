"""``host[:port]`` as operators write it, parsed in one place.

``--server``, ``--resolver`` and profile ``server`` keys all take an address with an optional
port, IPv6 in brackets when a port follows (``[::1]:5222``) and bare otherwise (``::1``).
"""

from __future__ import annotations

from xiot.errors import UsageError


def split_host_port(text: str, what: str = "address", example: str = "127.0.0.1:5222"
                    ) -> tuple[str, int | None]:
    """``(host, port)`` of ``text``; the port is ``None`` when not given.

    A malformed address or a port outside 1-65535 is a ``UsageError`` naming ``what``.
    """
    raw = text.strip()
    if not raw:
        raise UsageError(f"empty {what}", f"Give host or host:port, e.g. {example}")
    if raw.startswith("["):
        host, sep, rest = raw[1:].partition("]")
        if not sep or (rest and not rest.startswith(":")):
            raise UsageError(f"malformed {what} '{text}'", "Write IPv6 with a port as [::1]:5222")
        port_text = rest[1:]
    elif raw.count(":") == 1:
        host, _, port_text = raw.partition(":")
    else:  # a name, an IPv4 address, or a bare IPv6 address (no port)
        host, port_text = raw, ""
    if not host:
        raise UsageError(f"malformed {what} '{text}'", f"Give host or host:port, e.g. {example}")
    if not port_text:
        return host, None
    if not port_text.isdigit() or not 0 < int(port_text) < 65536:
        raise UsageError(f"bad port in {what} '{text}'", "The port must be 1-65535")
    return host, int(port_text)
