"""A real Prosody on loopback: config, private CA, ports, accounts."""
