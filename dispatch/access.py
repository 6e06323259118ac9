"""Who may touch which hospital's rows: one check per resource, used by every route on it.

Hospital staff and hospital API keys act for their own hospital only; everyone else is scoped by
role on the route itself.
"""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from dispatch.models import Hospital, TransferRequest
from kernel.accounts import Principal, Role
from kernel.errors import Forbidden

# Who may see the requests on their way to a hospital (a hospital, only to itself).
INCOMING_READERS = (Role.HOSPITAL, Role.DISPATCHER, Role.SUPERVISOR, Role.ADMIN)
BED_WRITERS = (Role.HOSPITAL, Role.ADMIN)


def ensure_hospital_access(principal: Principal, hospital_id: str) -> None:
    """A hospital's record, status and bed counts: its own staff and keys, or anyone not a hospital."""
    if principal.role is Role.HOSPITAL and principal.hospital_id != hospital_id:
        raise Forbidden("you act only for your own hospital", code="other_hospital")


def hospitals_for(session: Session, principal: Principal) -> list[Hospital]:
    """The hospitals a caller may list: a hospital sees only itself."""
    stmt = select(Hospital).order_by(Hospital.name)
    if principal.role is Role.HOSPITAL:
        stmt = stmt.where(Hospital.id == principal.hospital_id)
    return list(session.scalars(stmt))


def ensure_bed_writer(principal: Principal, hospital_id: str) -> None:
    """Bed counts come from the hospital (staff or API key), or an admin correcting them."""
    if principal.role not in BED_WRITERS:
        raise Forbidden(
            "only the hospital (staff or API key) updates its beds", code="role_required"
        )
    ensure_hospital_access(principal, hospital_id)


def ensure_incoming_reader(principal: Principal, hospital_id: str) -> None:
    ensure_hospital_access(principal, hospital_id)
    if principal.role not in INCOMING_READERS:
        raise Forbidden("hospital, dispatch and supervisors only", code="role_required")


def ensure_transfer_access(principal: Principal, req: TransferRequest) -> None:
    """A hospital sees the requests sent to it, nothing else."""
    if principal.role is not Role.HOSPITAL:
        return
    if req.hospital_id is None:
        raise Forbidden("this request is not addressed to your hospital", code="other_hospital")
    ensure_hospital_access(principal, req.hospital_id)


def ensure_receiving_hospital(principal: Principal, hospital_id: str | None) -> None:
    """Handover steps are the receiving hospital's alone (not even admins sign for a hospital)."""
    if principal.role is not Role.HOSPITAL or principal.hospital_id != hospital_id:
        raise Forbidden("only the receiving hospital can do this", code="other_hospital")
