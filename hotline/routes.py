"""HTTP routes of the call centre: telephony webhooks, doctors' actions, calls and branches."""

from __future__ import annotations

import asyncio
import time
from typing import Annotated, Any, TypeVar

import redis
from fastapi import APIRouter, Depends, Header, Query, Request
from pydantic import BaseModel
from sqlalchemy import select

from hotline import arrivals, branches, calls, doctors, presence, schemas
from hotline.models import Branch, Call, Doctor, GatewayInstruction
from hotline.routing.router import router_for
from hotline.vocab import CallStatus
from kernel import events
from kernel.accounts import Principal, Role
from kernel.deps import RedisDep, SessionDep, require_roles
from kernel.errors import Conflict, Forbidden, NotFound, Unauthorized
from kernel.redisconn import get_redis
from kernel.security import SIGNATURE_HEADER, TIMESTAMP_HEADER, first_use_of, signature_problem

router = APIRouter(prefix="/api/v1")
# The gateway's call arrivals, matched before every other route (hotline/app.py).
hot_router = APIRouter(prefix="/api/v1")

M = TypeVar("M", bound=BaseModel)

DoctorPrincipal = Annotated[Principal, Depends(require_roles(Role.DOCTOR))]
SupervisorPrincipal = Annotated[Principal, Depends(require_roles(Role.SUPERVISOR))]
AdminPrincipal = Annotated[Principal, Depends(require_roles())]
CallReader = Annotated[
    Principal, Depends(require_roles(Role.DOCTOR, Role.SUPERVISOR, Role.DISPATCHER))
]


# --------------------------------------------------------------------------- telephony


async def verified_body(
    request: Request,
    x_hotline_timestamp: Annotated[str | None, Header()] = None,
    x_hotline_signature: Annotated[str | None, Header()] = None,
) -> tuple[bytes, str]:
    """(the raw body, its signature) once the signature checks out; not yet checked for reuse.

    Pure computation on the event loop: an HMAC over the body as received, no copy.
    """
    body = await request.body()
    target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
    problem = signature_problem(
        request.method, target, body, x_hotline_timestamp, x_hotline_signature
    )
    if problem:
        raise Unauthorized(problem, code="bad_signature")
    assert x_hotline_signature is not None
    return body, x_hotline_signature


VerifiedBody = Annotated[tuple[bytes, str], Depends(verified_body)]

# The two headers verified_body reads, for the OpenAPI document of a route that reads
# them itself.
SIGNED_HEADERS = [
    {"name": name, "in": "header", "required": False, "schema": {"type": "string"}}
    for name in (TIMESTAMP_HEADER.lower(), SIGNATURE_HEADER.lower())
]


def refuse_replay(r: redis.Redis, signature: str) -> None:
    if not first_use_of(r, signature):
        raise Unauthorized("this signature was used already", code="replayed_signature")


async def signed_body(r: RedisDep, verified: VerifiedBody) -> bytes:
    """The raw body, once the request's signature checks out and has not been used before."""
    body, signature = verified
    await asyncio.to_thread(refuse_replay, r, signature)
    return body


SignedBody = Annotated[bytes, Depends(signed_body)]


@hot_router.post(
    "/telephony/calls",
    response_model=schemas.CallReceiptOut,
    tags=["telephony"],
    responses={
        409: {"description": "the provider_call_id was used for another call"},
        422: {"description": "no open branch has these digits, or a malformed body"},
        503: {"description": "the queue could not be reached: retry with the same id"},
    },
    openapi_extra={"parameters": SIGNED_HEADERS},
)
async def incoming_call(request: Request) -> schemas.CallReceiptOut:
    # The lean path: the signature is checked on the event loop, and everything that
    # waits on Redis or the database runs in a worker-thread hop on one connection,
    # shared with the arrivals that came at the same moment (hotline/arrivals.py; see
    # docs/architecture.md, "The arrival's lean path"). No dependencies to solve: the
    # signed headers are read here (they are documented by openapi_extra above).
    headers = request.headers
    verified = await verified_body(
        request, headers.get(TIMESTAMP_HEADER), headers.get(SIGNATURE_HEADER)
    )
    receipt = await arrivals.batches_for(request.app.state, get_redis()).submit(verified)
    return schemas.CallReceiptOut(**receipt.__dict__)


def _call_by_provider_id(session: SessionDep, provider_call_id: str) -> Call:
    call = calls.find_call_by_provider_id(session, provider_call_id)
    if call is None:
        raise NotFound(f"no call with provider_call_id {provider_call_id!r}", code="call_not_found")
    return call


@router.post(
    "/telephony/calls/{provider_call_id}/hangup",
    response_model=schemas.HangupOut,
    tags=["telephony"],
)
def caller_hung_up(
    session: SessionDep, r: RedisDep, provider_call_id: str, _body: SignedBody
) -> schemas.HangupOut:
    call = calls.find_call_by_provider_id(session, provider_call_id)
    if call is None:
        calls.hangup_before_call(session, provider_call_id)
        return schemas.HangupOut(call_id=None, status=CallStatus.ABANDONED)
    status = calls.hangup(session, r, call)
    return schemas.HangupOut(call_id=call.id, status=status)


@router.post(
    "/telephony/calls/{provider_call_id}/callback",
    response_model=schemas.HangupOut,
    tags=["telephony"],
)
def caller_wants_callback(
    session: SessionDep, r: RedisDep, provider_call_id: str, _body: SignedBody
) -> schemas.HangupOut:
    call = _call_by_provider_id(session, provider_call_id)
    if call.status == "callback_pending" or call.callback_requested_at is not None:
        return schemas.HangupOut(call_id=call.id, status=call.status)
    status = calls.request_callback(session, r, call)
    return schemas.HangupOut(call_id=call.id, status=status)


@router.get(
    "/telephony/instructions",
    response_model=list[schemas.GatewayInstructionOut],
    tags=["telephony"],
)
def gateway_instructions(
    session: SessionDep,
    _body: SignedBody,
    after: Annotated[int, Query(ge=0, le=2**31 - 1)] = 0,  # the id column's range
    limit: Annotated[int, Query(ge=1, le=1000)] = 200,
) -> list[dict[str, Any]]:
    """The default outbound driver's log: what the gateway should do, oldest first."""
    rows = session.scalars(
        select(GatewayInstruction)
        .where(GatewayInstruction.id > after)
        .order_by(GatewayInstruction.id)
        .limit(limit)
    ).all()
    return [
        {
            "id": i.id,
            "provider_call_id": i.provider_call_id,
            "call_id": i.call_id,
            "action": i.action,
            "params": i.params,
            "created_at": i.created_at.isoformat(),
        }
        for i in rows
    ]


# --------------------------------------------------------------------------- doctors


def current_doctor(session: SessionDep, principal: DoctorPrincipal) -> Doctor:
    return doctors.doctor_for_user(session, principal.id)


CurrentDoctor = Annotated[Doctor, Depends(current_doctor)]


def doctor_out(doctor: Doctor) -> schemas.DoctorOut:
    return schemas.DoctorOut(
        id=doctor.id,
        user_id=doctor.user_id,
        full_name=doctor.full_name,
        organisation=doctor.organisation,
        licence_number=doctor.licence_number,
        presence=doctor.presence,
        branches=doctors.doctor_branch_prefs(doctor),
    )


def call_out(call: Call) -> schemas.CallOut:
    data = {c: getattr(call, c) for c in schemas.CallOut.model_fields if c != "branch"}
    return schemas.CallOut(branch=call.branch.digit, **data)


@router.put("/doctors/me/presence", response_model=schemas.PresenceOut, tags=["doctors"])
def set_my_presence(
    session: SessionDep, r: RedisDep, doctor: CurrentDoctor, body: schemas.PresenceIn
) -> schemas.PresenceOut:
    previous = router_for(r).doctor_state(doctor.id).get("st", "offline")
    state = presence.set_presence(session, r, doctor, body.state)
    return schemas.PresenceOut(state=state, previous=previous)


@router.post("/doctors/me/heartbeat", status_code=204, tags=["doctors"])
def heartbeat(r: RedisDep, doctor: CurrentDoctor) -> None:
    presence.heartbeat(r, doctor.id)


@router.get("/doctors/me", response_model=schemas.ConsoleStateOut, tags=["doctors"])
def my_console_state(
    session: SessionDep, r: RedisDep, doctor: CurrentDoctor
) -> schemas.ConsoleStateOut:
    return console_state(session, r, doctor)


def console_state(session: Any, r: Any, doctor: Doctor) -> schemas.ConsoleStateOut:
    live = router_for(r).doctor_state(doctor.id)
    offer = None
    if live.get("offer"):
        o = router_for(r).offer(live["offer"])
        if o:
            t = r.time()
            now_ms = int(t[0]) * 1000 + int(t[1]) // 1000
            call = session.get(Call, o["call"])
            offer = schemas.OfferOut(
                offer_id=live["offer"],
                call_id=o["call"],
                branch=o["b"],
                caller=call.caller if call else "",
                expires_in_s=max(0.0, (int(o["exp"]) - now_ms) / 1000),
            )
    current = calls.current_call(session, doctor)
    return schemas.ConsoleStateOut(
        doctor=doctor_out(doctor),
        state=live.get("st", "offline"),
        offer=offer,
        call=call_out(current) if current else None,
    )


@router.post(
    "/offers/{offer_id}/accept",
    response_model=schemas.CallOut,
    tags=["doctors"],
    responses={409: {"description": "the offer expired or was withdrawn"}},
)
def accept_offer(
    session: SessionDep, r: RedisDep, doctor: CurrentDoctor, offer_id: str
) -> schemas.CallOut:
    return call_out(presence.accept_offer(session, r, doctor, offer_id))


@router.post(
    "/offers/{offer_id}/decline",
    status_code=204,
    tags=["doctors"],
    responses={409: {"description": "the offer expired or was withdrawn"}},
)
def decline_offer(session: SessionDep, r: RedisDep, doctor: CurrentDoctor, offer_id: str) -> None:
    presence.decline_offer(session, r, doctor, offer_id)


def valid_call(session: SessionDep, call_id: str) -> Call:
    call = session.get(Call, call_id)
    if call is None:
        raise NotFound(f"no call {call_id!r}", code="call_not_found")
    return call


ValidCall = Annotated[Call, Depends(valid_call)]


@router.post("/calls/{call_id}/complete", response_model=schemas.CallOut, tags=["doctors"])
def complete_call(
    session: SessionDep,
    r: RedisDep,
    doctor: CurrentDoctor,
    call: ValidCall,
    body: schemas.CompleteIn,
) -> schemas.CallOut:
    done = calls.complete_call(
        session, r, doctor, call, disposition=body.disposition, notes=body.notes
    )
    return call_out(done)


@router.get("/calls/{call_id}", response_model=schemas.CallOut, tags=["calls"])
def get_call(session: SessionDep, principal: CallReader, call: ValidCall) -> schemas.CallOut:
    if principal.role is Role.DOCTOR:
        doctor = doctors.doctor_for_user(session, principal.id)
        if doctor.id not in (call.doctor_id, call.answered_by):
            raise Forbidden(
                "only the doctor on the call, supervisors and dispatchers see it",
                code="not_your_call",
            )
    return call_out(call)


# --------------------------------------------------------------------------- branches, doctors


@router.get("/branches", response_model=list[schemas.BranchOut], tags=["branches"])
def list_branches(
    session: SessionDep,
    _p: Annotated[Principal, Depends(require_roles(*Role))],
) -> list[Branch]:
    return list(session.scalars(select(Branch).order_by(Branch.digit)).all())


@router.post("/branches", response_model=schemas.BranchOut, status_code=201, tags=["branches"])
def create_branch(session: SessionDep, admin: AdminPrincipal, body: schemas.BranchIn) -> Branch:
    if session.scalar(select(Branch.id).where(Branch.digit == body.digit)):
        raise Conflict(f"branch digit {body.digit} exists", code="branch_exists")
    branch = Branch(**body.model_dump())
    session.add(branch)
    session.flush()
    events.record(
        session,
        kind="branch.created",
        subject_type="branch",
        subject_id=body.digit,
        actor=admin.actor,
        data=body.model_dump(),
    )
    return branch


@router.get("/branches/{digit}/queue", response_model=schemas.BranchQueueOut, tags=["branches"])
def branch_queue(
    session: SessionDep, r: RedisDep, _p: SupervisorPrincipal, digit: str
) -> dict[str, Any]:
    branch = branches.branch_by_digit(session, digit)
    figures = router_for(r).branch_figures([branch.digit])[branch.digit]
    waiting = session.scalars(
        select(Call)
        .where(
            Call.branch_id == branch.id, Call.status.in_(("queued", "offered", "callback_pending"))
        )
        .order_by(Call.priority, Call.queued_at)
    ).all()
    now = time.time()
    return {
        "branch": branch.digit,
        **figures,
        "calls": [
            {
                "call_id": c.id,
                "caller": c.caller,
                "status": c.status,
                "priority": c.priority,
                "priority_reason": c.priority_reason,
                "waited_s": round(now - c.queued_at.timestamp(), 1),
            }
            for c in waiting
        ],
    }


@router.post("/doctors", response_model=schemas.DoctorOut, status_code=201, tags=["doctors"])
def create_doctor(
    session: SessionDep, admin: AdminPrincipal, body: schemas.DoctorIn
) -> schemas.DoctorOut:
    doctor = doctors.create_doctor(
        session,
        user_id=body.user_id,
        full_name=body.full_name,
        organisation=body.organisation,
        licence_number=body.licence_number,
        branches=body.branches,
    )
    events.record(
        session,
        kind="doctor.created",
        subject_type="doctor",
        subject_id=doctor.id,
        actor=admin.actor,
    )
    return doctor_out(doctor)
