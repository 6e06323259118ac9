"""Demo data for dispatch: HCMC Covid hospitals with bed pools, ambulance teams and a hospital login."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.orm import Session

from dispatch import ambulances, beds, cli
from dispatch.models import AmbulanceTeam, Hospital
from dispatch.vocab import BedType, Capability
from kernel import accounts
from kernel.accounts import User
from kernel.db import utcnow
from kernel.errors import Conflict

SAMPLE_CSV = Path(__file__).parent / "data" / "hcmc_hospitals.csv"
HOSPITAL_LOGIN = "hospital1"
DEMO_PASSWORD = "hotline1022"

# (total, occupied, out of service) per bed type, by tier; the ICU centre gets ECMO.
POOLS = {
    3: {
        BedType.GENERAL: (120, 96, 4),
        BedType.OXYGEN: (80, 71, 2),
        BedType.ICU: (24, 22, 0),
        BedType.VENTILATOR: (12, 11, 0),
        BedType.ECMO: (3, 2, 0),
    },
    2: {BedType.GENERAL: (200, 150, 10), BedType.OXYGEN: (60, 57, 1), BedType.ICU: (6, 5, 0)},
}
AMBULANCES = [
    ("115 Quận 1", 10.7769, 106.7009),
    ("115 Thủ Đức", 10.8498, 106.7723),
    ("115 Bình Tân", 10.7650, 106.6030),
    ("115 Quận 7", 10.7387, 106.7216),
]


def seed_demo(session: Session) -> list[str]:
    """Create the demo hospitals, counts and logins (idempotent); returns lines to print."""
    cli.import_hospitals(session, cli.read_csv(SAMPLE_CSV), actor="demo")
    hospitals = list(session.scalars(select(Hospital).order_by(Hospital.created_at, Hospital.name)))
    by_name = {h.name: h for h in hospitals}
    first = by_name.get("Bệnh viện Hồi sức COVID-19") or hospitals[0]
    now = utcnow()
    for h in hospitals:
        pools = POOLS[3 if h.tier == 3 else 2]
        counts = [
            beds.BedCounts(bed_type, total, occ, oos)
            for bed_type, (total, occ, oos) in pools.items()
            if bed_type != BedType.ECMO or Capability.ECMO in h.capabilities
        ]
        try:
            with session.begin_nested():
                beds.update_beds(
                    session,
                    hospital_id=h.id,
                    counts=counts,
                    as_of=now - timedelta(minutes=5),
                    actor="demo",
                )
        except Conflict:
            pass  # counts already newer than the demo's: leave the hospital's own
    for name, lat, lon in AMBULANCES:
        if session.scalar(select(AmbulanceTeam.id).where(AmbulanceTeam.name == name)) is None:
            ambulances.create_ambulance(
                session, name=name, base_lat=lat, base_lon=lon, actor="demo"
            )
    # Every demo hospital has a login, hospital1 .. hospitalN (the first is the ICU centre), so
    # whichever hospital the matcher picks, someone can sign in and accept.
    ordered = [first, *(h for h in hospitals if h.id != first.id)]
    for n, h in enumerate(ordered, start=1):
        username = f"hospital{n}"
        if session.scalar(select(User.id).where(User.username == username)) is None:
            accounts.create_user(
                session,
                username=username,
                password=DEMO_PASSWORD,
                role="hospital",
                hospital_id=h.id,
                display_name=f"Staff, {h.name}",
            )
    return [
        f"dispatch: {len(hospitals)} HCMC hospitals, {len(AMBULANCES)} ambulance teams; "
        f"hospital page logins {HOSPITAL_LOGIN} .. hospital{len(ordered)} / {DEMO_PASSWORD} "
        f"({HOSPITAL_LOGIN}: staff of {first.name})"
    ]
