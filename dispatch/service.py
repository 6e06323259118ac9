"""Bed staleness under the name triage's area figures still import; goes once they use beds.open_pools."""

from dispatch.beds import is_stale

__all__ = ["is_stale"]
