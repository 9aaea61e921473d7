"""Connectivity probes: DNS, TLS, stream features, HTTP endpoints."""
