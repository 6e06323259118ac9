"""Doctors: the profile behind a doctor account, and the branches they serve."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from hotline.models import Branch, Doctor, DoctorBranch
from kernel import accounts
from kernel.accounts import Role
from kernel.errors import Conflict, Forbidden, InvalidInput


def doctor_for_user(session: Session, user_id: str) -> Doctor:
    doctor = session.scalar(select(Doctor).where(Doctor.user_id == user_id))
    if doctor is None:
        raise Forbidden("this account has no doctor profile", code="not_a_doctor")
    return doctor


def doctor_branch_prefs(doctor: Doctor) -> dict[str, int]:
    """Branch digit -> preference (1 first) for the open branches the doctor serves."""
    return {db.branch.digit: db.preference for db in doctor.branches if db.branch.active}


def create_doctor(
    session: Session,
    *,
    user_id: str,
    full_name: str,
    organisation: str = "",
    licence_number: str = "",
    branches: dict[str, int],
) -> Doctor:
    user = session.get(accounts.User, user_id)
    if user is None or user.role != Role.DOCTOR.value:
        raise InvalidInput("user_id", "must name an account with the doctor role")
    if session.scalar(select(Doctor.id).where(Doctor.user_id == user_id)):
        raise Conflict("this account already has a doctor profile", code="doctor_exists")
    doctor = Doctor(
        user_id=user_id,
        full_name=full_name,
        organisation=organisation,
        licence_number=licence_number,
    )
    session.add(doctor)
    for digit, pref in branches.items():
        branch = session.scalar(select(Branch).where(Branch.digit == digit))
        if branch is None:
            raise InvalidInput(f"branches.{digit}", "no such branch")
        if not 1 <= pref <= 9:
            raise InvalidInput(f"branches.{digit}", "preference must be 1-9")
        doctor.branches.append(DoctorBranch(branch_id=branch.id, preference=pref))
    session.flush()
    return doctor
