"""Demo data: the 1022 hotline's branches 3 and 4, demo accounts and doctors (idempotent)."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from hotline import doctors
from hotline.models import Branch
from kernel import accounts

DEMO_PASSWORD = "hotline1022"

BRANCHES = [
    {
        "digit": "3",
        "name": "F0 home care",
        "name_vi": "Chăm sóc F0 tại nhà",
        "skill": "covid_home_care",
        "sl_target": 0.8,
        "sl_threshold_s": 20,
        "max_queue": 300,
    },
    {
        "digit": "4",
        "name": "Other health problems",
        "name_vi": "Hỗ trợ bệnh lý khác",
        "skill": "general_medicine",
        "sl_target": 0.8,
        "sl_threshold_s": 30,
        "max_queue": 200,
    },
]

# (username, full name, organisation, {branch: preference})
DOCTORS = [
    ("doctor1", "BS. Nguyễn Thị Lan", "Thầy thuốc đồng hành", {"3": 1}),
    ("doctor2", "BS. Trần Văn Minh", "Thầy thuốc đồng hành", {"3": 1, "4": 2}),
    ("doctor3", "BS. Lê Hoàng Phúc", "BV Chợ Rẫy", {"3": 1}),
    ("doctor4", "BS. Phạm Thu Hà", "TTYT Quận 8", {"4": 1, "3": 2}),
    ("doctor5", "BS. Võ Quốc Bảo", "Thầy thuốc đồng hành", {"3": 1}),
    ("doctor6", "BS. Đặng Mỹ Linh", "Thầy thuốc đồng hành", {"4": 1}),
    ("doctor7", "BS. Huỳnh Gia Huy", "BV Nhân dân 115", {"3": 1, "4": 1}),
    ("doctor8", "BS. Bùi Khánh Vy", "Thầy thuốc đồng hành", {"3": 2, "4": 1}),
]

STAFF = [("admin", "admin"), ("supervisor", "supervisor"), ("dispatcher", "dispatcher")]


def seed_branches(session: Session) -> None:
    for spec in BRANCHES:
        if session.scalar(select(Branch.id).where(Branch.digit == spec["digit"])) is None:
            session.add(Branch(**spec))
    session.flush()


def ensure_user(session: Session, username: str, role: str, **kw: str | None) -> accounts.User:
    user = session.scalar(select(accounts.User).where(accounts.User.username == username))
    if user is None:
        user = accounts.create_user(
            session, username=username, password=DEMO_PASSWORD, role=role, **kw
        )
    return user


def seed_demo(session: Session) -> list[tuple[str, str]]:
    """Create what the demo needs; returns (username, role) of the demo logins."""
    seed_branches(session)
    logins = []
    for username, role in STAFF:
        ensure_user(session, username, role)
        logins.append((username, role))
    for i, (username, full_name, org, prefs) in enumerate(DOCTORS, start=1):
        user = ensure_user(session, username, "doctor", display_name=full_name)
        try:
            doctors.doctor_for_user(session, user.id)
        except Exception:
            doctors.create_doctor(
                session,
                user_id=user.id,
                full_name=full_name,
                organisation=org,
                licence_number=f"CCHN-DEMO-{i:04d}",
                branches=prefs,
            )
        doctor = doctors.doctor_for_user(session, user.id)
        if doctor.phone is None:
            doctor.phone = f"+849110000{i:02d}"  # where the voice line rings them
        logins.append((username, "doctor"))
    return logins
