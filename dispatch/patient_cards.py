"""Who a transfer's patient is: the card the dispatch board and the hospital page show.

Dispatch knows a patient only by `patient_ref` and sits below triage, which holds the patient
record. Triage registers a lookup at start (the composition root calls
`triage.patient_cards.register()`); without one, transfers carry no card. The card goes only
where the transfer itself goes: the board, and the hospital the request is held at or sent to.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

from sqlalchemy.orm import Session

CardLookup = Callable[[Session, Sequence[str]], Mapping[str, dict[str, Any]]]

_lookup: CardLookup | None = None


def register(lookup: CardLookup | None) -> None:
    global _lookup
    _lookup = lookup


def cards(session: Session, refs: Sequence[str]) -> Mapping[str, dict[str, Any]]:
    """patient_ref -> card, for the refs a lookup knows (one batch, not one query per row)."""
    if _lookup is None or not refs:
        return {}
    return _lookup(session, sorted(set(refs)))


def attach(session: Session, views: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Add each transfer view's patient card (None when the patient is not known to triage)."""
    found = cards(session, [v["patient_ref"] for v in views])
    for view in views:
        view["patient"] = found.get(view["patient_ref"])
    return views
