"""XMPP plumbing: sessions, JIDs, data forms."""
