"""Every demo hospital has its own login, so whichever hospital the matcher picks can accept."""

from __future__ import annotations

from sqlalchemy import select

from dispatch import demo
from dispatch.models import Hospital
from kernel.accounts import User
from kernel.db import unit_of_work


def test_every_demo_hospital_has_one_login_and_seeding_twice_adds_none() -> None:
    for _ in range(2):
        with unit_of_work() as s:
            demo.seed_demo(s)
    with unit_of_work() as s:
        hospitals = set(s.scalars(select(Hospital.id)))
        logins = s.execute(
            select(User.username, User.hospital_id, User.role).where(User.role == "hospital")
        ).all()
        first = s.scalar(select(User.hospital_id).where(User.username == "hospital1"))
        icu_centre = s.scalar(
            select(Hospital.id).where(Hospital.name == "Bệnh viện Hồi sức COVID-19")
        )
    assert len(hospitals) > 1
    assert sorted(u for u, _, _ in logins) == sorted(
        f"hospital{n}" for n in range(1, len(hospitals) + 1)
    )
    assert {h for _, h, _ in logins} == hospitals
    assert first == icu_centre
