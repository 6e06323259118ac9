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
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any, cast

import redis
from sqlalchemy import Table, Update, bindparam, func, select, update
from sqlalchemy.orm import Session
from sqlalchemy.orm.attributes import set_committed_value
from sqlalchemy.orm.util import identity_key

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


def apply_outcome(
    session: Session,
    r: redis.Redis,
    outcome: Outcome,
    *,
    actor: str,
    at_calls_turn: Callable[[], object] | None = None,
) -> None:
    """Write what a routing decision changed, and queue the pushes for after commit.

    Rows are locked in one global order (offers, then calls, then doctors, each by id)
    so that concurrent decisions written by different processes cannot deadlock.
    at_calls_turn: the caller's own writes to calls of this decision, made at the calls'
    turn of that order (after the offers are written, before the calls' state).
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
    if call_writes or outcome.doctors or outcome.offers:
        session.flush()  # what this request changed before goes first, as an ORM UPDATE did
    if at_calls_turn is not None:
        at_calls_turn()
    _write_calls(session, call_writes)
    _write_doctors(session, outcome)
    for ev in new_events:
        events.record(session, actor=actor, **ev)
    if pushes:
        events.after_commit(session, lambda: _publish(r, pushes))


CallWrite = tuple[str, int, dict[str, Any], dict[str, Any]]  # id, version, state, facts


def _write_calls(session: Session, writes: list[CallWrite]) -> None:
    # Of one call's state writes in a decision only the newest can take (its versions only
    # grow; an offer made at once writes "offered" and the older "queued"): the others are
    # not sent, unless they carry facts. Stable sort: each call's own writes stay in order.
    newest: dict[str, int] = {}
    for call_id, version, _, _ in writes:
        newest[call_id] = max(version, newest.get(call_id, version))
    kept = [w for w in writes if w[3] or w[1] == newest[w[0]]]
    ordered = sorted(kept, key=lambda w: w[0])
    start = 0
    while start < len(ordered):
        end = start
        while end < len(ordered) and not ordered[end][3]:
            end += 1
        if end - start > 1:  # writes of state alone: in one executemany, in the same order
            _write_states(session, ordered[start:end])
            start = end
        else:
            _write_one_call(session, *ordered[start])
            start += 1


def _write_states(session: Session, writes: list[CallWrite]) -> None:
    """Several calls' state writes in one round trip (a batch of arrivals' decision).

    The conditional UPDATE is the same as one at a time, run in the same order. When every
    write took, each call this session holds takes its values; otherwise the versions the
    rows now have say which writes took (the rows stay locked until the commit).
    """
    params = [
        {"w_id": call_id, "w_version": version, **{f"w_{k}": v for k, v in state.items()}}
        for call_id, version, state, _ in writes
    ]
    took = session.execute(_CALL_STATE, params).rowcount  # type: ignore[attr-defined]
    versions: dict[str, int] = {}
    if took != len(writes):
        ids = sorted({w[0] for w in writes})
        versions = {i: v for i, v in session.execute(_CALL_VERSIONS, {"ids": ids})}
    for call_id, version, state, _ in writes:
        if took == len(writes) or versions.get(call_id) == version:
            _loaded(session, Call, call_id, {**state, "routing_version": version})


def _write_one_call(
    session: Session, call_id: str, version: int, state: dict[str, Any], facts: dict[str, Any]
) -> None:
    params = {"w_id": call_id, "w_version": version}
    params.update({f"w_{k}": v for k, v in state.items()})
    if session.execute(_CALL_STATE, params).rowcount == 1:  # type: ignore[attr-defined]
        _loaded(session, Call, call_id, {**state, "routing_version": version})
    if facts:
        params = {"w_id": call_id, **{f"w_{k}": v for k, v in facts.items()}}
        session.execute(_call_facts(tuple(sorted(facts))), params)
        call = session.identity_map.get(identity_key(Call, call_id))
        if call is not None:  # read again if this request looks at them
            session.expire(call, list(facts))


def _write_doctors(session: Session, outcome: Outcome) -> None:
    writes = [
        (o.doctor_id, o.doctor_version, Presence.OFFERED, o.offered_ms) for o in outcome.offers
    ]
    writes += [(d.doctor_id, d.version, d.state, d.at_ms) for d in outcome.doctors]
    for doctor_id, version, presence, at_ms in sorted(writes, key=lambda w: w[0]):
        at = from_ms(at_ms)
        params = {"w_id": doctor_id, "w_version": version, "w_presence": presence, "w_at": at}
        if session.execute(_DOCTOR_STATE, params).rowcount == 1:  # type: ignore[attr-defined]
            values = {"presence": presence, "presence_at": at, "presence_version": version}
            _loaded(session, Doctor, doctor_id, values)


# Every routing decision writes through these, so they are built once as plain Core
# statements on the tables: an ORM UPDATE is compiled anew for each decision and then
# searches the session for the objects to change, which cost an arrival more CPU than the
# round trip. What the ORM did for the objects this request has loaded, _loaded does.
_calls = cast(Table, Call.__table__)
_doctors = cast(Table, Doctor.__table__)
_CALL_STATE = (
    update(_calls)
    .where(_calls.c.id == bindparam("w_id"), _calls.c.routing_version < bindparam("w_version"))
    .values(
        status=bindparam("w_status"),
        doctor_id=bindparam("w_doctor_id"),
        routing_version=bindparam("w_version"),
    )
)
_DOCTOR_STATE = (
    update(_doctors)
    .where(_doctors.c.id == bindparam("w_id"), _doctors.c.presence_version < bindparam("w_version"))
    .values(
        presence=bindparam("w_presence"),
        presence_at=bindparam("w_at"),
        presence_version=bindparam("w_version"),
    )
)
_CALL_VERSIONS = select(_calls.c.id, _calls.c.routing_version).where(
    _calls.c.id.in_(bindparam("ids", expanding=True))
)
_facts_statements: dict[tuple[str, ...], Update] = {}


def _call_facts(names: tuple[str, ...]) -> Update:
    """Set each fact once: a value already recorded is kept (COALESCE)."""
    stmt = _facts_statements.get(names)
    if stmt is None:
        values = {
            n: func.coalesce(_calls.c[n], bindparam(f"w_{n}", type_=_calls.c[n].type))
            for n in names
        }
        stmt = _facts_statements[names] = (
            update(_calls).where(_calls.c.id == bindparam("w_id")).values(values)
        )
    return stmt


def _loaded(session: Session, model: type[Any], key: str, values: dict[str, Any]) -> None:
    """The row took these values: an instance this session holds takes them too, as if read."""
    obj = session.identity_map.get(identity_key(model, key))
    if obj is not None:
        for name, value in values.items():
            set_committed_value(obj, name, value)


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
