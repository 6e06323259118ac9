"""Bed staleness under the old module name the dashboard and triage's area figures still import."""

from dispatch.beds import is_stale

__all__ = ["is_stale"]
