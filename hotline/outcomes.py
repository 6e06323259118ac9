"""Turning a routing decision into durable rows and console pushes: the one place that does.

A routing decision reaches the database in two kinds of write. The call's and the
doctor's *state* (status, who has the call, presence) is ordered by the version Redis
gave the transition: a write that arrives after a newer one changes nothing. The *facts*
a transition carries (when the call was answered and by whom, when it ended or was
abandoned, how an offer ended) are recorded whatever the order, and never overwritten
once set: a late write loses its state, never its facts.
"""

from __future__ import annotations

import json
import logging
from datetime import UTC, datetime
from typing import Any

import redis
from sqlalchemy import func, update
from sqlalchemy.orm import Session

from hotline.models import Call, Doctor, Offer
from hotline.routing import keys
from hotline.routing.outcome import CallChange, OfferClosed, OfferMade, Outcome
from hotline.vocab import CallStatus, OfferOutcome, Presence
from kernel import events
from kernel.db import insert_ignore

# A call that ended (completed, abandoned) takes this routing version, so a slower
# write of an earlier routing decision can never bring it back to life.
log = logging.getLogger(__name__)

TERMINAL_VERSION = 2**31 - 1


def to_ms(dt: datetime) -> int:
    return int(dt.timestamp() * 1000)


def from_ms(ms: int) -> datetime:
    return datetime.fromtimestamp(ms / 1000, UTC)


def apply_outcome(session: Session, r: redis.Redis, outcome: Outcome, *, actor: str) -> None:
    """Write what a routing decision changed, and queue the pushes for after commit.

    Rows are locked in one global order (offers, then calls, then doctors, each by id)
    so that concurrent decisions written by different processes cannot deadlock.
    """
    pushes: list[tuple[str, dict[str, Any]]] = []
    new_events: list[dict[str, Any]] = []
    call_writes: list[tuple[str, int, dict[str, Any], dict[str, Any]]] = []
    offer_pushes: list[tuple[str, dict[str, Any]]] = []

    offers: list[OfferMade | OfferClosed] = [*outcome.offers, *outcome.offers_closed]
    for item in sorted(offers, key=lambda o: o.offer_id):
        if isinstance(item, OfferClosed):
            _close_offer(session, item, pushes)
            continue
        open_offer(session, item)
        state: dict[str, Any] = {"status": CallStatus.OFFERED, "doctor_id": item.doctor_id}
        call_writes.append((item.call_id, item.call_version, state, {}))
        data = {"offer_id": item.offer_id, "doctor_id": item.doctor_id}
        new_events.append(_event("call.offered", "call", item.call_id, item.offered_ms, data))
        offer_pushes.append((keys.console_channel(item.doctor_id), _offer_message(item)))

    for change in outcome.calls:
        state, facts = _call_change_values(change)
        call_writes.append((change.call_id, state.pop("routing_version"), state, facts))
        kind = f"call.{change.status}"
        new_events.append(_event(kind, "call", change.call_id, change.at_ms, {"why": change.why}))
        message = {"type": "call", "call_id": change.call_id, "status": change.status}
        pushes.append((keys.CALLS_CHANNEL, message))

    for doc in outcome.doctors:
        data = {"state": doc.state, "why": doc.why}
        new_events.append(_event("doctor.presence", "doctor", doc.doctor_id, doc.at_ms, data))
        message = {"type": "presence", "state": doc.state, "reason": doc.why}
        pushes.append((keys.console_channel(doc.doctor_id), message))

    if offer_pushes:
        # Redis has decided: the console hears of its offer now, not after the commit.
        # The rows follow under the version rules (an accept that overtakes this write
        # wins, and _close_offer writes a missing offer row whole).
        try:
            _publish(r, offer_pushes)
        except Exception:  # the offer stands in Redis; the console's resync shows it
            log.exception("could not push %d offers", len(offer_pushes))
    _write_calls(session, call_writes)
    _write_doctors(session, outcome)
    for ev in new_events:
        events.record(session, actor=actor, **ev)
    if pushes:
        events.after_commit(session, lambda: _publish(r, pushes))


def _write_calls(
    session: Session, writes: list[tuple[str, int, dict[str, Any], dict[str, Any]]]
) -> None:
    # Stable sort: each call's own transitions stay in decision order.
    for call_id, version, state, facts in sorted(writes, key=lambda w: w[0]):
        session.execute(
            update(Call)
            .where(Call.id == call_id, Call.routing_version < version)
            .values(routing_version=version, **state)
        )
        if facts:
            session.execute(
                update(Call)
                .where(Call.id == call_id)
                .values({k: func.coalesce(getattr(Call, k), v) for k, v in facts.items()})
            )


def _write_doctors(session: Session, outcome: Outcome) -> None:
    writes = [
        (o.doctor_id, o.doctor_version, Presence.OFFERED, o.offered_ms) for o in outcome.offers
    ]
    writes += [(d.doctor_id, d.version, d.state, d.at_ms) for d in outcome.doctors]
    for doctor_id, version, presence, at_ms in sorted(writes, key=lambda w: w[0]):
        session.execute(
            update(Doctor)
            .where(Doctor.id == doctor_id, Doctor.presence_version < version)
            .values(presence=presence, presence_at=from_ms(at_ms), presence_version=version)
        )


def _call_change_values(change: CallChange) -> tuple[dict[str, Any], dict[str, Any]]:
    """(ordered state, write-once facts) of one call transition."""
    at = from_ms(change.at_ms)
    if change.status is CallStatus.ABANDONED:
        # Ended calls take the terminal version: no slower write can bring them back.
        state: dict[str, Any] = {
            "status": CallStatus.ABANDONED,
            "doctor_id": None,
            "routing_version": TERMINAL_VERSION,
        }
        return state, {"abandoned_at": at, "ended_at": at}
    state = {
        "status": change.status,
        "doctor_id": change.doctor_id or None,
        "routing_version": change.version,
    }
    facts: dict[str, Any] = {}
    if change.status is CallStatus.CONNECTED:
        facts = {"answered_at": at, "answered_by": change.doctor_id or None}
    elif change.status is CallStatus.WRAP_UP:
        facts = {"ended_at": at}
    return state, facts


def _event(
    kind: str, subject_type: str, subject_id: str, at_ms: int, data: dict[str, Any]
) -> dict[str, Any]:
    return {
        "kind": kind,
        "subject_type": subject_type,
        "subject_id": subject_id,
        "data": data,
        "at": from_ms(at_ms),
    }


def _offer_message(offer: OfferMade) -> dict[str, Any]:
    return {
        "type": "offer",
        "offer_id": offer.offer_id,
        "call_id": offer.call_id,
        "branch": offer.branch,
        "caller": offer.caller,
        "expires_in_s": round((offer.expires_ms - offer.offered_ms) / 1000, 1),
        "expires_at_ms": offer.expires_ms,
    }


def open_offer(session: Session, offer: OfferMade) -> None:
    insert_ignore(
        session,
        Offer,
        {
            "id": offer.offer_id,
            "call_id": offer.call_id,
            "doctor_id": offer.doctor_id,
            "offered_at": from_ms(offer.offered_ms),
            "expires_at": from_ms(offer.expires_ms),
        },
    )


def _close_offer(
    session: Session, closed: OfferClosed, pushes: list[tuple[str, dict[str, Any]]]
) -> None:
    # The offer row may not be written yet if its creator is still committing: insert it
    # whole from what Redis knew, then record how it ended (once, whoever is first).
    insert_ignore(
        session,
        Offer,
        {
            "id": closed.offer_id,
            "call_id": closed.call_id,
            "doctor_id": closed.doctor_id,
            "offered_at": from_ms(closed.offered_ms),
            "expires_at": from_ms(closed.expires_ms),
        },
    )
    session.execute(
        update(Offer)
        .where(Offer.id == closed.offer_id, Offer.outcome.is_(None))
        .values(outcome=closed.outcome, resolved_at=from_ms(closed.at_ms))
    )
    if closed.outcome is not OfferOutcome.ACCEPTED:
        pushes.append(
            (
                keys.console_channel(closed.doctor_id),
                {
                    "type": "offer_withdrawn",
                    "offer_id": closed.offer_id,
                    "call_id": closed.call_id,
                    "reason": closed.reason,
                },
            )
        )


def _publish(r: redis.Redis, pushes: list[tuple[str, dict[str, Any]]]) -> None:
    pipe = r.pipeline(transaction=False)
    for channel, message in pushes:
        pipe.publish(channel, json.dumps(message))
    pipe.execute()
