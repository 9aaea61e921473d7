"""Simulated devices speaking XEP-0323/0325/0326."""
