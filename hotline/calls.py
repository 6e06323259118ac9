"""Calls: receiving them, putting them in line, hang-ups, call-backs, outbound tasks, completion.

A call's path runs one way: the row is committed, routing decides in Redis, the
decision is written (hotline.outcomes) and the gateway is told what the new status
means for the line (hotline.gateway). Functions take the session and the Redis client
and never commit, except where a call must be durable before Redis hears of it.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import redis
from sqlalchemy import (
    bindparam,
    cast,
    exists,
    func,
    literal_column,
    null,
    select,
    union_all,
    update,
)
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session
from sqlalchemy.sql.elements import BindParameter

from hotline import gateway
from hotline.branches import branch_by_digit, branch_is_open, cached_branch_by_digit
from hotline.models import Branch, Call, Doctor, HangupBeforeCall
from hotline.outcomes import TERMINAL_VERSION, apply_outcome, to_ms
from hotline.routing.outcome import Outcome
from hotline.routing.router import DEFAULT_HANDLE_TIME_S, EnqueueCall, router_for
from hotline.vocab import (
    RECEIPT_STATUS,
    WAITING_CALL_STATUSES,
    CallDirection,
    CallStatus,
    ReceiptStatus,
    RejectReason,
)
from kernel import events
from kernel.db import insert_ignore, new_id, unit_of_work, utcnow
from kernel.errors import Conflict, Forbidden
from kernel.lean import insert_row
from kernel.redisconn import get_redis
from kernel.settings import get_settings
from triage.caller_risk import CallerRisk, caller_risk
from triage.models import PatientPhone


class Priority(enum.IntEnum):
    """Queue classes; lower goes first, first-come first-served inside a class."""

    SEVERE_CALLBACK = 0  # an abandoned or returning caller whose patient was triaged severe
    HIGH_RISK = 1  # a known patient at high risk
    ELDERLY = 2
    RETURNING = 3  # called and gave up recently
    ROUTINE = 4


def offer_timeout_ms() -> int:
    return int(get_settings().offer_timeout_s * 1000)


# --------------------------------------------------------------------------- priority and wait


def caller_priority(session: Session, caller: str) -> tuple[Priority, str]:
    risk = caller_risk(session, caller)
    returning = session.scalar(
        select(exists().where(Call.caller == caller, *_GAVE_UP)), {"since": _since()}
    )
    return _priority_from(risk, bool(returning))


def _since() -> datetime:
    """Calls abandoned after this make a returning caller."""
    return utcnow() - timedelta(seconds=get_settings().repeat_caller_window_s)


def _priority_from(risk: CallerRisk | None, returning: bool) -> tuple[Priority, str]:
    s = get_settings()
    if risk is not None:
        if returning and risk.severe:
            return Priority.SEVERE_CALLBACK, "returning caller, patient triaged severe"
        if risk.high_risk or risk.severe:
            return Priority.HIGH_RISK, "known high-risk patient"
        if risk.age is not None and risk.age >= s.elderly_age:
            return Priority.ELDERLY, f"patient aged {risk.age}"
    if returning:
        return Priority.RETURNING, "called and gave up recently"
    return Priority.ROUTINE, ""


def expected_wait_s(position: int, staffed: int, aht_s: float | None) -> int:
    """Calls ahead, worked in parallel by the doctors staffing the branch."""
    if position <= 0:
        return 0
    return round(position * (aht_s or DEFAULT_HANDLE_TIME_S) / max(staffed, 1))


@dataclass
class CallReceipt:
    call_id: str
    status: str  # a ReceiptStatus
    position: int | None
    expected_wait_s: int | None
    reason: str | None = None


def find_call_by_provider_id(session: Session, provider_call_id: str) -> Call | None:
    return session.scalar(select(Call).where(Call.provider_call_id == provider_call_id))


def receipt_for(r: redis.Redis, call: Call) -> CallReceipt:
    """Where a known call stands now (a gateway retrying the same call gets this)."""
    status = RECEIPT_STATUS[CallStatus(call.status)]
    if status != ReceiptStatus.QUEUED:
        return CallReceipt(call.id, status, None, None, call.reject_reason)
    router = router_for(r)
    _, position = router.position(call.id)
    wait = 0
    if position:
        branch = call.branch.digit
        wait = expected_wait_s(position, router.staffed_count(branch), router.handle_time(branch))
    return CallReceipt(call.id, status, position or 0, wait)


# --------------------------------------------------------------------------- arrivals


def receive(
    session: Session, r: redis.Redis, *, provider_call_id: str, caller: str, digits: str
) -> CallReceipt:
    """A call the gateway reports (idempotent by its id): recorded, then put in line.

    The row commits before Redis hears of the call, so a crash in between loses nothing:
    the gateway's retry (or the reconciliation sweep) queues it. A call is answered
    "queued" only once it is in the queue.
    """
    # One read answers what a new call (nearly every arrival) needs to know.
    probe = arrival_probe(session, provider_call_id, caller)
    call = session.get(Call, probe.known) if probe.known is not None else None
    fresh = False
    if call is None:
        call, fresh = _record_arrival(session, provider_call_id, caller, digits, probe)
    if call.caller != caller or call.branch.digit != digits:
        raise Conflict("this provider_call_id was used for another call", code="id_reused")
    if fresh or (
        call.status in WAITING_CALL_STATUSES and router_for(r).position(call.id)[0] is None
    ):
        # New, or committed by an attempt that never reached the queue: queue it now.
        return route_call(session, r, call)
    return receipt_for(r, call)


# The rule both probes below apply for "the caller gave up recently": a call of theirs
# was abandoned within the returning-caller window (`since`).
_GAVE_UP = (
    Call.status == CallStatus.ABANDONED,
    Call.created_at >= bindparam("since", type_=Call.created_at.type),
)


@dataclass(frozen=True)
class Probe:
    """What an arrival reads before it writes: the call if this id is known, a hang-up that
    came first, whether the caller gave up recently, and whether any patient is on the
    number (only then is the patients' risk read)."""

    known: str | None
    hung_up_at: datetime | None
    gave_up_recently: bool
    has_patients: bool


# A lone arrival's probe, in one statement (one round trip).
_pid: BindParameter[str] = bindparam("pid")
_caller: BindParameter[str] = bindparam("caller")
_ARRIVAL_PROBE = select(
    select(Call.id).where(Call.provider_call_id == _pid).scalar_subquery().label("known"),
    select(HangupBeforeCall.hung_up_at)
    .where(HangupBeforeCall.provider_call_id == _pid)
    .scalar_subquery()
    .label("hung_up_at"),
    exists().where(Call.caller == _caller, *_GAVE_UP).label("gave_up_recently"),
    exists().where(PatientPhone.phone == _caller).label("has_patients"),
)


def arrival_probe(session: Session, provider_call_id: str, caller: str) -> Probe:
    """One arrival's Probe, in one statement."""
    params = {"pid": provider_call_id, "caller": caller, "since": _since()}
    row = session.execute(_ARRIVAL_PROBE, params).one()
    return Probe(row.known, row.hung_up_at, bool(row.gave_up_recently), bool(row.has_patients))


def arrival_probes(session: Session, arrivals: list[tuple[str, str]]) -> dict[str, Probe]:
    """The Probe of many (provider_call_id, caller), each caller once: one statement
    whatever their number, instead of one each. Keyed by provider_call_id."""
    pids = [pid for pid, _ in arrivals]
    callers = [caller for _, caller in arrivals]
    params = {"pids": pids, "callers": callers, "since": _since()}
    known: dict[str, str] = {}
    hung_up: dict[str, datetime] = {}
    gave_up: set[str] = set()
    on_file: set[str] = set()
    for fact, key, call_id, at in session.execute(_ARRIVALS_PROBE, params):
        if fact == "known":
            known[key] = call_id
        elif fact == "hung_up":
            hung_up[key] = at
        elif fact == "gave_up":
            gave_up.add(key)
        else:
            on_file.add(key)
    return {
        pid: Probe(known.get(pid), hung_up.get(pid), caller in gave_up, caller in on_file)
        for pid, caller in arrivals
    }


# The batch's four questions in one statement (one round trip), a row per fact found:
# (fact, provider_call_id or caller, the known call's id, the hang-up's time). The empty
# columns carry their column's type, so every SELECT's id and time are read alike.
_pids: BindParameter[list[str]] = bindparam("pids", expanding=True)
_callers: BindParameter[list[str]] = bindparam("callers", expanding=True)
_no_id = cast(null(), Call.id.type)
_no_time = cast(null(), HangupBeforeCall.hung_up_at.type)
_ARRIVALS_PROBE = union_all(
    select(
        literal_column("'hung_up'"),
        HangupBeforeCall.provider_call_id,
        _no_id,
        HangupBeforeCall.hung_up_at,
    ).where(HangupBeforeCall.provider_call_id.in_(_pids)),
    select(literal_column("'known'"), Call.provider_call_id, Call.id, _no_time).where(
        Call.provider_call_id.in_(_pids)
    ),
    select(literal_column("'gave_up'"), Call.caller, _no_id, _no_time)
    .where(Call.caller.in_(_callers), *_GAVE_UP)
    .distinct(),
    select(literal_column("'on_file'"), PatientPhone.phone, _no_id, _no_time)
    .where(PatientPhone.phone.in_(_callers))
    .distinct(),
)


def record_arrival(
    session: Session,
    provider_call_id: str,
    caller: str,
    digits: str,
    probe: Probe,
    *,
    write_soon: bool = False,
) -> Call:
    """Write a new call's row (not committed). Refuses an unknown branch before writing.

    write_soon: inside an `inserts_together` block, the row is written with the block's
    others, at its end.
    """
    branch = cached_branch_by_digit(session, digits)
    risk = caller_risk(session, caller) if probe.has_patients else None
    return register_call(
        session,
        provider_call_id=provider_call_id,
        caller=caller,
        branch=branch,
        priority=_priority_from(risk, probe.gave_up_recently),
        hung_up_at=probe.hung_up_at,
        write_soon=write_soon,
    )


def _record_arrival(
    session: Session, provider_call_id: str, caller: str, digits: str, probe: Probe
) -> tuple[Call, bool]:
    """(the call, whether this attempt recorded it)."""
    try:
        call = record_arrival(session, provider_call_id, caller, digits, probe)
        session.commit()
        return call, True
    except IntegrityError:
        # Another attempt of the same call committed first: that row is the call.
        session.rollback()
        existing = find_call_by_provider_id(session, provider_call_id)
        if existing is None:
            raise
        return existing, False


def register_call(
    session: Session,
    *,
    provider_call_id: str,
    caller: str,
    branch: Branch,
    direction: CallDirection = CallDirection.INBOUND,
    priority: tuple[Priority, str] | None = None,
    origin_call_id: str | None = None,
    task_ref: str | None = None,
    hung_up_at: datetime | None = None,
    write_soon: bool = False,
) -> Call:
    """Write the call row; the caller's transaction must commit before route_call runs.

    hung_up_at: the caller had already hung up when the call was reported; it is recorded
    as abandoned then, and never queued.
    write_soon: see record_arrival.
    """
    prio, reason = priority or caller_priority(session, caller)
    now = utcnow()
    row: dict[str, Any] = {
        "id": new_id(),
        "provider_call_id": provider_call_id,
        "caller": caller,
        "branch_id": branch.id,
        "direction": direction,
        "priority": int(prio),
        "priority_reason": reason,
        "status": CallStatus.QUEUED,
        "origin_call_id": origin_call_id,
        "task_ref": task_ref,
        "queued_at": now,
        "created_at": now,
        "routing_version": 0,
    }
    if hung_up_at is not None:
        row["status"], row["routing_version"] = CallStatus.ABANDONED, TERMINAL_VERSION
        row["abandoned_at"] = row["ended_at"] = hung_up_at
    elif not branch_is_open(branch):
        row["status"], row["reject_reason"] = CallStatus.REJECTED, RejectReason.BRANCH_CLOSED
    call = insert_row(session, Call, row, soon=write_soon, branch=branch)  # Core, no flush
    events.record(
        session,
        kind="call.received",
        subject_type="call",
        subject_id=call.id,
        actor="telephony",
        data={
            "branch": branch.digit,
            "priority": call.priority,
            "direction": direction,
            "status": call.status,
        },
    )
    if hung_up_at is not None:
        events.record(
            session,
            kind="call.abandoned",
            subject_type="call",
            subject_id=call.id,
            actor="telephony",
            data={"why": "caller_hung_up_before_call"},
            at=hung_up_at,
        )
    return call


def route_call(session: Session, r: redis.Redis, call: Call) -> CallReceipt:
    """Put a committed call into its branch queue and offer it if a doctor is free."""
    if call.status in (CallStatus.REJECTED, CallStatus.ABANDONED):
        gateway.follow(session, call)
        return receipt_for(r, call)
    outcome = queue_in_redis(r, call)
    if outcome.result == "ended":
        # The caller hung up before it reached the queue; the hang-up records it.
        return CallReceipt(call.id, ReceiptStatus.ABANDONED, None, None)
    if outcome.result == "exists":
        # Queued by a concurrent attempt of the same call, which told the gateway.
        session.refresh(call)
        return receipt_for(r, call)
    if outcome.result == "full":
        call.status, call.reject_reason = CallStatus.REJECTED, RejectReason.QUEUE_FULL
        events.record(
            session,
            kind="call.rejected",
            subject_type="call",
            subject_id=call.id,
            actor="telephony",
            data={"reason": RejectReason.QUEUE_FULL},
        )
        gateway.follow(session, call)
        return receipt_for(r, call)
    apply_outcome(session, r, outcome, actor="routing")
    return queued(session, call, outcome)


# What an enqueue answers when it did not put the call in line (route_call says why).
NOT_QUEUED = ("ended", "exists", "full")


def queue_in_redis(r: redis.Redis, call: Call) -> Outcome:
    """Routing's decision on a committed call: queued (and maybe offered), or why not."""
    return router_for(r).enqueue(**_enqueue_args(call))


def queue_many_in_redis(r: redis.Redis, calls: list[Call]) -> list[Outcome | Exception]:
    """queue_in_redis for each committed call, in order, in one round trip to Redis: each
    call's decision, or the error its script answered."""
    return router_for(r).enqueue_many([_enqueue_args(call) for call in calls])


def _enqueue_args(call: Call) -> EnqueueCall:
    return {
        "call_id": call.id,
        "branch": call.branch.digit,
        "priority": call.priority,
        "queued_ms": to_ms(call.queued_at),
        "caller": call.caller,
        "max_queue": call.branch.max_queue,
        "timeout_ms": offer_timeout_ms(),
        "callback": call.direction != CallDirection.INBOUND,
    }


def queued(session: Session, call: Call, outcome: Outcome) -> CallReceipt:
    """A call in its queue (the decision written): the gateway holds the line, and the
    caller hears their place."""
    position = outcome.position or 0
    wait = expected_wait_s(position, outcome.staffed, outcome.aht_s)
    gateway.follow(session, call, position=position, expected_wait_s=wait)
    return CallReceipt(call.id, ReceiptStatus.QUEUED, position, wait)


def enqueue_task(
    session: Session,
    *,
    branch_digit: str,
    phone: str,
    task_ref: str,
    priority: Priority,
    reason: str,
) -> Call:
    """An outbound task (follow-up, call-back) that takes the same routing as a call."""
    branch = branch_by_digit(session, branch_digit)
    existing = find_call_by_provider_id(session, f"task:{task_ref}")
    if existing is not None:
        return existing
    call = register_call(
        session,
        provider_call_id=f"task:{task_ref}",
        caller=phone,
        branch=branch,
        direction=CallDirection.FOLLOWUP,
        priority=(priority, reason),
        task_ref=task_ref,
    )
    events.after_commit(session, lambda: _route_later(call.id))
    return call


def _route_later(call_id: str) -> None:
    with unit_of_work() as session:
        call = session.get(Call, call_id)
        if call is not None and call.status == CallStatus.QUEUED:
            route_call(session, get_redis(), call)


# --------------------------------------------------------------------------- the caller


def hangup(session: Session, r: redis.Redis, call: Call) -> str:
    outcome = router_for(r).hangup(call_id=call.id, timeout_ms=offer_timeout_ms())
    apply_outcome(session, r, outcome, actor="telephony")
    if outcome.result == "abandoned":
        session.refresh(call)
        _after_abandon(session, call)
        return CallStatus.ABANDONED
    if outcome.result == "ended":
        return "ended"
    if outcome.result == "gone":
        # It ended here already (an earlier hang-up, or the doctor completed it).
        session.refresh(call)
        return call.status
    if outcome.result == "unknown":
        return _hangup_unknown_to_routing(session, call)
    return call.status


def hangup_before_call(session: Session, provider_call_id: str) -> None:
    """The caller left before their call reached us: remember it (once) for when it does."""
    insert_ignore(
        session, HangupBeforeCall, {"provider_call_id": provider_call_id, "hung_up_at": utcnow()}
    )


def _hangup_unknown_to_routing(session: Session, call: Call) -> str:
    """The caller hung up on a call Redis does not hold: the database decides, in one UPDATE.

    Either the call already ended there (a doctor completed it and its write may still be
    on its way), or Redis lost it before a rebuild. Only a call nobody answered, and that
    no terminal write has reached, is abandoned.
    """
    now = utcnow()
    abandoned = session.execute(
        update(Call)
        .where(
            Call.id == call.id,
            Call.routing_version < TERMINAL_VERSION,
            Call.answered_at.is_(None),
            Call.status.in_(WAITING_CALL_STATUSES),
        )
        .values(
            status=CallStatus.ABANDONED,
            doctor_id=None,
            routing_version=TERMINAL_VERSION,
            abandoned_at=func.coalesce(Call.abandoned_at, now),
            ended_at=func.coalesce(Call.ended_at, now),
        )
    ).rowcount  # type: ignore[attr-defined]
    if abandoned:
        events.record(
            session,
            kind="call.abandoned",
            subject_type="call",
            subject_id=call.id,
            actor="telephony",
            data={"why": "caller_hung_up"},
        )
    else:
        # An answered call: the caller leaving is when it ended, if nothing said so yet.
        session.execute(
            update(Call)
            .where(Call.id == call.id, Call.answered_at.is_not(None))
            .values(ended_at=func.coalesce(Call.ended_at, now))
        )
    session.refresh(call)
    return call.status


def _after_abandon(session: Session, call: Call) -> None:
    """An abandoned caller whose patient was triaged severe is called back, first."""
    risk = caller_risk(session, call.caller)
    if call.direction != CallDirection.INBOUND or risk is None or not risk.severe:
        return
    task = register_call(
        session,
        provider_call_id=f"callback:{call.id}",
        caller=call.caller,
        branch=call.branch,
        direction=CallDirection.CALLBACK,
        priority=(Priority.SEVERE_CALLBACK, "abandoned call, patient triaged severe"),
        origin_call_id=call.id,
    )
    events.after_commit(session, lambda: _route_later(task.id))


def request_callback(session: Session, r: redis.Redis, call: Call) -> str:
    outcome = router_for(r).callback(call_id=call.id)
    if outcome.result == "refused":
        raise Conflict(
            f"call is {call.status}; only a waiting call can become a call-back", code="not_waiting"
        )
    apply_outcome(session, r, outcome, actor="telephony")
    call.callback_requested_at = utcnow()
    call.direction = CallDirection.CALLBACK
    events.record(
        session,
        kind="call.callback_requested",
        subject_type="call",
        subject_id=call.id,
        actor="telephony",
    )
    session.flush()
    return CallStatus.CALLBACK_PENDING


# --------------------------------------------------------------------------- the doctor's end


def complete_call(
    session: Session,
    r: redis.Redis,
    doctor: Doctor,
    call: Call,
    *,
    disposition: str,
    notes: str,
) -> Call:
    if call.answered_by != doctor.id:
        raise Forbidden("this call is not yours", code="not_your_call")
    if call.status == CallStatus.COMPLETED:
        raise Conflict("call already completed", code="already_completed")
    router = router_for(r)
    outcome = router.complete(
        call_id=call.id, doctor_id=doctor.id, wrapup_ms=int(get_settings().wrapup_s * 1000)
    )
    if outcome.result != "ok":
        raise Conflict(f"call is {call.status}, not connected", code="not_connected")
    now = utcnow()
    # Completion is terminal; the end of the line is a fact a hang-up may have written first.
    session.execute(
        update(Call)
        .where(Call.id == call.id)
        .values(
            status=CallStatus.COMPLETED,
            routing_version=TERMINAL_VERSION,
            completed_at=now,
            ended_at=func.coalesce(Call.ended_at, now),
            disposition=disposition,
            notes=notes,
        )
    )  # the call row before the doctor row: the global lock order
    session.refresh(call)
    apply_outcome(session, r, outcome, actor=f"doctor:{doctor.id}")
    events.record(
        session,
        kind="call.completed",
        subject_type="call",
        subject_id=call.id,
        actor=f"doctor:{doctor.id}",
        data={"disposition": disposition},
    )
    gateway.follow(session, call, line_open=outcome.detail == CallStatus.CONNECTED)
    if call.answered_at:
        router.record_handle_time(call.branch.digit, (now - call.answered_at).total_seconds())
    return call


def current_call(session: Session, doctor: Doctor) -> Call | None:
    return session.scalar(
        select(Call)
        .where(
            Call.doctor_id == doctor.id,
            Call.status.in_((CallStatus.CONNECTED, CallStatus.WRAP_UP)),
        )
        .order_by(Call.answered_at.desc())
        .limit(1)
    )
