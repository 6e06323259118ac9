"""Shared kernel: settings, database, Redis, accounts and the event log used by every domain."""
