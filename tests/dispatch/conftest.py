"""Dispatch test helpers: hospitals, bed counts, transfer requests and running the jobs for real."""

from __future__ import annotations

import functools
import os
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import select

from dispatch import hospitals, transfers
from dispatch.beds import BedCounts, update_beds
from dispatch.models import BedPool
from kernel.db import unit_of_work
from kernel.redisconn import redis_url
from kernel.settings import get_settings
from tests.conftest import PASSWORD, ROOT, auth

# District 1, HCMC.
PICKUP = {"lat": 10.7769, "lon": 106.7009}


def now_iso(delta_s: float = 0) -> str:
    return (datetime.now(UTC) + timedelta(seconds=delta_s)).isoformat()


def make_hospital(
    name: str = "Bệnh viện Dã chiến số 1",
    *,
    lat: float = 10.78,
    lon: float = 106.70,
    beds: dict[str, tuple[int, int]] | None = None,
    as_of: datetime | None = None,
) -> str:
    """A hospital with pools {bed_type: (total, occupied)}; returns its id."""
    with unit_of_work() as s:
        h = hospitals.create_hospital(
            s, name=name, tier=3, lat=lat, lon=lon, capabilities=["icu", "oxygen"], actor="test"
        )
        if beds:
            update_beds(
                s,
                hospital_id=h.id,
                counts=[BedCounts(t, total, occ, 0) for t, (total, occ) in beds.items()],
                as_of=as_of or datetime.now(UTC),
                actor="test",
            )
        return h.id


def pool(hospital_id: str, bed_type: str) -> BedPool:
    with unit_of_work() as s:
        p = s.scalar(
            select(BedPool).where(BedPool.hospital_id == hospital_id, BedPool.bed_type == bed_type)
        )
        assert p is not None
        return p


def new_request(patient: str, *, bed_type: str = "icu", urgency: str = "urgent") -> str:
    with unit_of_work() as s:
        return transfers.create_transfer_request(
            s,
            patient_ref=patient,
            bed_type=bed_type,
            urgency=urgency,
            pickup_lat=PICKUP["lat"],
            pickup_lon=PICKUP["lon"],
            requested_by="test",
        ).id


def transfer(request_id: str) -> dict[str, Any]:
    with unit_of_work() as s:
        return transfers.transfer_view(s, transfers.get_transfer(s, request_id))


def worker_env() -> dict[str, str]:
    env = {**os.environ, "REDIS_URL": redis_url()}
    if get_settings().database_url:
        env["DATABASE_URL"] = get_settings().database_url or ""
    return env


def start_worker(
    queues: str = "dispatch", *, stall_after_claim_s: float = 0
) -> subprocess.Popen[bytes]:
    """A real RQ worker (forking, like `hotline worker`) in its own process group.

    With stall_after_claim_s, it claims each request and then stalls before matching it.
    """
    return subprocess.Popen(
        [sys.executable, "-m", "tests.dispatch.worker", queues, str(stall_after_claim_s)],
        env=worker_env(),
        cwd=ROOT,
        start_new_session=True,
    )


def run_workers(n: int = 1, queues: str = "dispatch", timeout: float = 120) -> None:
    procs = [start_worker(queues) for _ in range(n)]
    for p in procs:
        assert p.wait(timeout) == 0


@functools.cache
def _password_hash() -> str:
    from kernel.accounts import hash_password

    return hash_password(PASSWORD)


def make_user(username: str, role: str, *, hospital_id: str | None = None) -> dict[str, str]:
    """An account and its bearer header; the password is hashed once per run (argon2 is slow)."""
    from kernel.accounts import User
    from kernel.security import issue_token

    with unit_of_work() as s:
        user = User(
            username=username,
            password_hash=_password_hash(),
            role=role,
            hospital_id=hospital_id,
            display_name=username,
            active=True,
        )
        s.add(user)
        s.flush()
        return auth(issue_token(user))


@pytest.fixture
def staff(client: Any) -> dict[str, Any]:
    """Two hospitals with one ICU bed each way, a dispatcher, a doctor and each hospital's staff."""
    a = make_hospital("Bệnh viện Chợ Rẫy", lat=10.7579, lon=106.6596, beds={"icu": (1, 0)})
    b = make_hospital("Bệnh viện Nhân dân 115", lat=10.7756, lon=106.6676, beds={"icu": (0, 0)})
    return {
        "a": a,
        "b": b,
        "disp": make_user("disp", "dispatcher"),
        "doc": make_user("doc", "doctor"),
        "staff_a": make_user("staff_a", "hospital", hospital_id=a),
        "staff_b": make_user("staff_b", "hospital", hospital_id=b),
        "admin": make_user("root", "admin"),
    }
