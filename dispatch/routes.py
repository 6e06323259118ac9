"""HTTP routes of dispatch: hospitals, bed pools, transfer requests and handover."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, NamedTuple

from fastapi import APIRouter, Depends, Request
from sqlalchemy.orm import Session

from dispatch import (
    access,
    ambulances,
    beds,
    handover,
    holds,
    hospitals,
    patient_cards,
    schemas,
    transfers,
)
from dispatch.models import Hospital
from dispatch.vocab import BedType, TransferStatus
from kernel.accounts import Principal, Role, principals_for_api_keys
from kernel.batches import batches_on
from kernel.db import one_connection_session, utcnow
from kernel.deps import (
    ApiKeyHeader,
    BearerToken,
    CurrentPrincipal,
    SessionDep,
    current_principal,
    parse_body,
    require_roles,
)
from kernel.settings import get_settings

router = APIRouter(prefix="/api/v1", tags=["dispatch"])
# The hospitals' bed counts, matched before every other route (hotline/app.py).
hot_router = APIRouter(prefix="/api/v1", tags=["dispatch"])

AdminDep = Annotated[Principal, Depends(require_roles(Role.ADMIN))]
DispatcherDep = Annotated[Principal, Depends(require_roles(Role.DISPATCHER))]
RequesterDep = Annotated[Principal, Depends(require_roles(Role.DOCTOR, Role.DISPATCHER))]
BoardDep = Annotated[
    Principal, Depends(require_roles(Role.DOCTOR, Role.DISPATCHER, Role.SUPERVISOR))
]
HospitalSideDep = Annotated[Principal, Depends(require_roles(Role.HOSPITAL))]

CONFLICT: dict[int | str, dict[str, Any]] = {
    409: {"description": "conflict (stale update, no bed, request changed)"}
}
SCOPED: dict[int | str, dict[str, Any]] = {
    403: {"description": "not your hospital"},
    404: {"description": "not found"},
}


def _expire_due(session: SessionDep) -> None:
    # Holds expire by timestamp: any read releases the ones past due, so an expired hold is
    # never shown or counted as held, even when no worker is running. Committed on its own so a
    # refused request (a late accept, say) does not roll the expiry back.
    if holds.expire_due_holds(session):
        session.commit()


ExpireDue = Depends(_expire_due)


def valid_hospital(session: SessionDep, hospital_id: str) -> Hospital:
    return hospitals.get_hospital(session, hospital_id)


HospitalDep = Annotated[Hospital, Depends(valid_hospital)]


def _hospital_out(h: Hospital) -> schemas.HospitalOut:
    return schemas.HospitalOut.model_validate(h, from_attributes=True)


def _pool_out(pool: beds.PoolFigures, now: datetime) -> schemas.PoolOut:
    return schemas.PoolOut(
        bed_type=BedType(pool.bed_type),
        total=pool.total,
        occupied=pool.occupied,
        out_of_service=pool.out_of_service,
        held=pool.held,
        available=pool.available,
        expected_discharges=pool.expected_discharges,
        next_discharge_at=pool.next_discharge_at,
        as_of=pool.as_of,
        stale=beds.is_stale(pool, now),
        updated_by=pool.updated_by,
    )


def _beds_out(session: Session, hospital: Hospital) -> schemas.HospitalBedsOut:
    now = utcnow()
    return schemas.HospitalBedsOut(
        hospital_id=hospital.id,
        hospital_name=hospital.name,
        pools=[_pool_out(p, now) for p in beds.hospital_pools(session, hospital.id)],
    )


# --------------------------------------------------------------------------- hospitals


@router.post("/hospitals", response_model=schemas.IdOut, status_code=201, responses=CONFLICT)
def create_hospital(
    session: SessionDep, admin: AdminDep, body: schemas.HospitalIn
) -> schemas.IdOut:
    hospital = hospitals.create_hospital(session, **body.model_dump(), actor=admin.actor)
    return schemas.IdOut(id=hospital.id)


@router.get("/hospitals", response_model=list[schemas.HospitalOut])
def list_hospitals(session: SessionDep, principal: CurrentPrincipal) -> list[schemas.HospitalOut]:
    return [_hospital_out(h) for h in access.hospitals_for(session, principal)]


@router.get("/hospitals/{hospital_id}", response_model=schemas.HospitalOut, responses=SCOPED)
def get_hospital(principal: CurrentPrincipal, hospital: HospitalDep) -> schemas.HospitalOut:
    access.ensure_hospital_access(principal, hospital.id)
    return _hospital_out(hospital)


@router.put("/hospitals/{hospital_id}/status", response_model=schemas.HospitalOut, responses=SCOPED)
def set_status(
    session: SessionDep,
    principal: Annotated[Principal, Depends(require_roles(Role.HOSPITAL, Role.DISPATCHER))],
    hospital: HospitalDep,
    body: schemas.HospitalStatusIn,
) -> schemas.HospitalOut:
    access.ensure_hospital_access(principal, hospital.id)
    updated = hospitals.set_facility_status(
        session,
        hospital_id=hospital.id,
        status=body.status,
        reason=body.reason,
        until=body.until,
        actor=principal.actor,
    )
    return _hospital_out(updated)


@router.get(
    "/hospitals/{hospital_id}/beds",
    response_model=schemas.HospitalBedsOut,
    responses=SCOPED,
    dependencies=[ExpireDue],
)
def get_beds(
    session: SessionDep, principal: CurrentPrincipal, hospital: HospitalDep
) -> schemas.HospitalBedsOut:
    access.ensure_hospital_access(principal, hospital.id)
    return _beds_out(session, hospital)


def _bed_writer(principal: CurrentPrincipal, hospital_id: str) -> Principal:
    access.ensure_bed_writer(principal, hospital_id)
    return principal


BedWriterDep = Annotated[Principal, Depends(_bed_writer)]


_BED_COUNTS_BODY = {
    "required": True,
    "content": {"application/json": {"schema": schemas.BedCountsIn.model_json_schema()}},
}


@hot_router.put(
    "/hospitals/{hospital_id}/beds/{bed_type}",
    response_model=schemas.PoolOut,
    responses={**SCOPED, **CONFLICT},
    openapi_extra={"requestBody": _BED_COUNTS_BODY},
)
async def put_beds(
    request: Request,
    hospital_id: str,
    bed_type: str,
    token: BearerToken,
    x_api_key: ApiKeyHeader = None,
) -> schemas.PoolOut:
    # The lean path (hospitals send these all day): the body is read on the event loop and
    # the rest runs in ONE worker-thread hop on one connection, shared with the updates that
    # came at the same moment (_put_beds_together), in the order the dependencies of the
    # other routes keep: who (401), may they (403), which hospital (404), then the body (422).
    body = await request.body()
    s = get_settings()
    together = batches_on(
        request.app.state,
        "bed_batches",
        _put_beds_together,
        size=s.bed_batch_size,
        running=s.bed_batches_running,
        gather_s=s.hot_batch_gather_ms / 1000,
    )
    return await together.submit(BedPut(hospital_id, bed_type, body, token, x_api_key))


class BedPut(NamedTuple):
    """One PUT of one pool's counts, as received."""

    hospital_id: str
    bed_type: str
    body: bytes
    token: str | None
    api_key: str | None


def _checked_put(
    session: Session, put: BedPut, keys: dict[str, Principal | None] | None = None
) -> beds.PoolWrite:
    if keys is not None and put.api_key and keys.get(put.api_key) is not None:
        principal = keys[put.api_key]  # looked up with the batch's other keys
        assert principal is not None
    else:
        principal = current_principal(session, put.token, put.api_key)
    access.ensure_bed_writer(principal, put.hospital_id)
    hospitals.get_hospital(session, put.hospital_id)
    payload = parse_body(schemas.BedCountsIn, put.body)
    counts = beds.BedCounts(bed_type=put.bed_type, **payload.model_dump(exclude={"as_of"}))
    return beds.checked_write(put.hospital_id, counts, payload.as_of, principal.actor)


def _put_beds(put: BedPut) -> schemas.PoolOut:
    with one_connection_session() as session:
        w = _checked_put(session, put)
        (pool,) = beds.update_beds(
            session,
            hospital_id=w.hospital_id,
            counts=[w.counts],
            as_of=w.as_of,
            actor=w.actor,
        )
        return _pool_out(pool, utcnow())


def _put_beds_together(puts: list[BedPut]) -> list[schemas.PoolOut | BaseException]:
    """Bed updates that came together: checked one by one, written in one transaction.

    An update refused by its checks fails alone. An update the batch did not write (a new
    pool, an older as_of, held beds) and every update of a batch that could not commit are
    then taken one at a time by the single path, which writes it or says why not.
    """
    results: dict[int, schemas.PoolOut | BaseException] = {}
    written: dict[int, schemas.PoolOut] = {}
    if len(puts) > 1:
        with one_connection_session() as session:
            # Who sent them and their hospitals, in one query each for the whole batch (the
            # hospitals stay in the session while `loaded` refers to them).
            keys = principals_for_api_keys(session, [p.api_key for p in puts if p.api_key])
            loaded = hospitals.load_hospitals(session, {p.hospital_id for p in puts})
            writes: dict[int, beds.PoolWrite] = {}
            for i, put in enumerate(puts):
                try:
                    writes[i] = _checked_put(session, put, keys)
                except Exception as exc:
                    results[i] = exc
            now = utcnow()
            try:
                written = beds.write_together(session, writes, lambda p: _pool_out(p, now))
                session.commit()
            except Exception:
                session.rollback()
                written = {}
            del loaded
    for i, put in enumerate(puts):
        if i in results:
            continue
        if i in written:
            results[i] = written[i]
            continue
        try:
            results[i] = _put_beds(put)
        except Exception as exc:
            results[i] = exc
    return [results[i] for i in range(len(puts))]


@router.put(
    "/hospitals/{hospital_id}/beds",
    response_model=schemas.HospitalBedsOut,
    responses={**SCOPED, **CONFLICT},
)
def put_beds_bulk(
    session: SessionDep, principal: BedWriterDep, hospital: HospitalDep, body: schemas.BulkBedsIn
) -> schemas.HospitalBedsOut:
    counts = [beds.BedCounts(**p.model_dump()) for p in body.pools]
    beds.update_beds(
        session,
        hospital_id=hospital.id,
        counts=counts,
        as_of=body.as_of,
        actor=principal.actor,
        field_prefix=True,
    )
    return _beds_out(session, hospital)


@router.get(
    "/hospitals/{hospital_id}/transfers",
    response_model=list[schemas.TransferOut],
    responses=SCOPED,
    dependencies=[ExpireDue],
)
def incoming_transfers(
    session: SessionDep, principal: CurrentPrincipal, hospital: HospitalDep
) -> list[dict[str, Any]]:
    access.ensure_incoming_reader(principal, hospital.id)
    reqs = transfers.list_transfers(session, hospital_id=hospital.id)
    views = [transfers.transfer_view(session, r, history=False) for r in reqs]
    return patient_cards.attach(session, views, principal)


# --------------------------------------------------------------------------- transfers


@router.post(
    "/transfers", response_model=schemas.TransferCreated, status_code=202, responses=CONFLICT
)
def create_transfer(
    session: SessionDep, principal: RequesterDep, body: schemas.TransferIn
) -> schemas.TransferCreated:
    req = transfers.create_transfer_request(
        session,
        patient_ref=body.patient_ref,
        bed_type=body.bed_type,
        urgency=body.urgency,
        pickup_lat=body.pickup.lat,
        pickup_lon=body.pickup.lon,
        pickup_source=body.pickup.source or "precise",
        requested_by=principal.actor,
        note=body.note,
    )
    return schemas.TransferCreated(id=req.id, status=TransferStatus(req.status))


@router.get("/transfers", response_model=list[schemas.TransferOut], dependencies=[ExpireDue])
def board(session: SessionDep, principal: BoardDep) -> list[dict[str, Any]]:
    views = [
        transfers.transfer_view(session, r, history=False)
        for r in transfers.list_transfers(session)
    ]
    return patient_cards.attach(session, views, principal)


@router.get(
    "/transfers/{transfer_id}",
    response_model=schemas.TransferOut,
    responses=SCOPED,
    dependencies=[ExpireDue],
)
def get_transfer(
    session: SessionDep, principal: CurrentPrincipal, transfer_id: str
) -> dict[str, Any]:
    req = transfers.get_transfer(session, transfer_id)
    access.ensure_transfer_access(principal, req)
    return patient_cards.attach(session, [transfers.transfer_view(session, req)], principal)[0]


@router.post(
    "/transfers/{transfer_id}/accept",
    response_model=schemas.TransferOut,
    responses={**SCOPED, **CONFLICT},
    dependencies=[ExpireDue],
)
def accept(session: SessionDep, principal: HospitalSideDep, transfer_id: str) -> dict[str, Any]:
    req = handover.accept(session, request_id=transfer_id, principal=principal)
    return transfers.transfer_view(session, req)


@router.post(
    "/transfers/{transfer_id}/refuse",
    response_model=schemas.TransferOut,
    responses={**SCOPED, **CONFLICT},
    dependencies=[ExpireDue],
)
def refuse(
    session: SessionDep,
    principal: HospitalSideDep,
    transfer_id: str,
    body: schemas.ReasonIn | None = None,
) -> dict[str, Any]:
    req = handover.refuse(
        session, request_id=transfer_id, principal=principal, reason=body.reason if body else ""
    )
    return transfers.transfer_view(session, req)


@router.post(
    "/transfers/{transfer_id}/admit",
    response_model=schemas.TransferOut,
    responses={**SCOPED, **CONFLICT},
    dependencies=[ExpireDue],
)
def admit(session: SessionDep, principal: HospitalSideDep, transfer_id: str) -> dict[str, Any]:
    req = handover.admit(session, request_id=transfer_id, principal=principal)
    return transfers.transfer_view(session, req)


@router.post(
    "/transfers/{transfer_id}/cancel",
    response_model=schemas.TransferOut,
    responses={**SCOPED, **CONFLICT},
)
def cancel(
    session: SessionDep,
    principal: DispatcherDep,
    transfer_id: str,
    body: schemas.ReasonIn | None = None,
) -> dict[str, Any]:
    req = handover.cancel(
        session, request_id=transfer_id, actor=principal.actor, reason=body.reason if body else ""
    )
    return transfers.transfer_view(session, req)


@router.post(
    "/transfers/{transfer_id}/override",
    response_model=schemas.TransferOut,
    responses={**SCOPED, **CONFLICT},
    dependencies=[ExpireDue],
)
def override(
    session: SessionDep, principal: DispatcherDep, transfer_id: str, body: schemas.OverrideIn
) -> dict[str, Any]:
    req = handover.override(
        session, request_id=transfer_id, hospital_id=body.hospital_id, actor=principal.actor
    )
    return transfers.transfer_view(session, req)


@router.post(
    "/transfers/{transfer_id}/transport",
    response_model=schemas.TransferOut,
    responses={**SCOPED, **CONFLICT},
    dependencies=[ExpireDue],
)
def assign_transport(
    session: SessionDep,
    principal: DispatcherDep,
    transfer_id: str,
    body: schemas.TransportIn | None = None,
) -> dict[str, Any]:
    req = ambulances.assign_transport(
        session,
        request_id=transfer_id,
        actor=principal.actor,
        ambulance_id=body.ambulance_id if body else None,
    )
    return transfers.transfer_view(session, req)


# --------------------------------------------------------------------------- ambulances


@router.post("/ambulances", response_model=schemas.AmbulanceOut, status_code=201)
def create_ambulance(
    session: SessionDep, principal: DispatcherDep, body: schemas.AmbulanceIn
) -> schemas.AmbulanceOut:
    team = ambulances.create_ambulance(session, **body.model_dump(), actor=principal.actor)
    return schemas.AmbulanceOut.model_validate(team, from_attributes=True)


@router.get("/ambulances", response_model=list[schemas.AmbulanceOut])
def list_ambulances(session: SessionDep, _: BoardDep) -> list[schemas.AmbulanceOut]:
    return [
        schemas.AmbulanceOut.model_validate(t, from_attributes=True)
        for t in ambulances.list_ambulances(session)
    ]
