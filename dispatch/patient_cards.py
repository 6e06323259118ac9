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

from kernel.accounts import Principal

# (session, patient refs, who is reading): the reader decides whether a card links to the
# patient's timeline.
CardLookup = Callable[[Session, Sequence[str], Principal], Mapping[str, dict[str, Any]]]

_lookup: CardLookup | None = None


def register(lookup: CardLookup | None) -> None:
    global _lookup
    _lookup = lookup


def cards(session: Session, refs: Sequence[str], reader: Principal) -> Mapping[str, dict[str, Any]]:
    """patient_ref -> card, for the refs a lookup knows (one batch, not one query per row)."""
    if _lookup is None or not refs:
        return {}
    return _lookup(session, sorted(set(refs)), reader)


def attach(
    session: Session, views: list[dict[str, Any]], reader: Principal
) -> list[dict[str, Any]]:
    """Add each transfer view's patient card (None when the patient is not known to triage)."""
    found = cards(session, [v["patient_ref"] for v in views], reader)
    for view in views:
        view["patient"] = found.get(view["patient_ref"])
    return views
