"""Bed updates written together (dispatch/routes.py) answer each hospital as a lone update would."""

from __future__ import annotations

import json
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta

import httpx
import pytest
from fastapi.exceptions import RequestValidationError
from rq import Queue
from sqlalchemy import select, text
from sqlalchemy.exc import DBAPIError

from dispatch import jobs, schemas
from dispatch.models import BedUpdate, TransferRequest
from dispatch.routes import BedPut, _put_beds_together
from kernel import accounts
from kernel.db import get_engine, unit_of_work
from kernel.errors import Conflict, DomainError, Forbidden, Unauthorized
from kernel.events import Event
from kernel.redisconn import get_redis_bytes
from tests.helpers import make_hospital, new_request, pool


def _key(hospital_id: str) -> str:
    with unit_of_work() as s:
        return accounts.create_api_key(s, hospital_id=hospital_id, name="his")[1]


def _put(hospital_id: str, bed_type: str, key: str | None, at: datetime, **counts: int) -> BedPut:
    body = {"total": 10, "occupied": 0, "out_of_service": 0, **counts, "as_of": at.isoformat()}
    return BedPut(hospital_id, bed_type, json.dumps(body).encode(), None, key)


def _kept(hospital_id: str) -> list[tuple[str, int]]:
    with unit_of_work() as s:
        rows = s.execute(
            select(BedUpdate.bed_type, BedUpdate.occupied)
            .where(BedUpdate.hospital_id == hospital_id)
            .order_by(BedUpdate.bed_type, BedUpdate.as_of)
        )
        return [(t, n) for t, n in rows]


def test_one_batch_answers_each_update_as_if_it_came_alone():
    old = datetime.now(UTC) - timedelta(minutes=1)
    held = make_hospital("Held", lat=10.85, beds={"icu": (1, 0)}, as_of=old)
    jobs.match_request(new_request("held-patient"))  # holds Held's only bed
    assert pool(held, "icu").held == 1
    a = make_hospital("A", beds={"icu": (4, 1), "oxygen": (10, 2)}, as_of=old)
    b = make_hospital("B", lat=10.80, beds={"icu": (2, 2)}, as_of=old)
    key_a, key_b, key_held = _key(a), _key(b), _key(held)

    now = datetime.now(UTC)
    t1, t2 = now - timedelta(seconds=2), now - timedelta(seconds=1)
    puts = [
        _put(a, "icu", key_a, t1, total=4, occupied=2),  # 0 written
        _put(b, "icu", key_b, t1, total=3, occupied=2),  # 1 written, frees a bed
        _put(a, "icu", key_a, t2, total=4, occupied=3),  # 2 the same pool, later: written
        _put(a, "oxygen", key_a, t2, total=10, occupied=9),  # 3 written
        _put(a, "general", key_a, t1, total=20, occupied=5),  # 4 a new pool: the single path
        _put(a, "icu", key_a, t1 - timedelta(seconds=1), total=4),  # 5 older than stored: 409
        _put(held, "icu", key_held, t1, total=1, occupied=1),  # 6 leaves the held bed no room
        _put(b, "icu", key_a, t2, total=5),  # 7 another hospital's key: 403
        _put(a, "icu", "hk_nosuch_key", t2, total=5),  # 8 a wrong key: 401
        _put(a, "icu", key_a, t2, total=4, occupied=5),  # 9 occupied > total: 422
        BedPut(a, "icu", b'{"total": 4, "occupied":', None, key_a),  # 10 broken JSON: 422
    ]
    results = _put_beds_together(puts)

    out = results[:5]
    assert all(isinstance(r, schemas.PoolOut) for r in out), results
    # Each update hears its own counts, even where a later one of the batch changed the pool.
    assert [(r.bed_type, r.occupied) for r in out] == [  # type: ignore[union-attr]
        ("icu", 2),
        ("icu", 2),
        ("icu", 3),
        ("oxygen", 9),
        ("general", 5),
    ]
    stale, no_room, other, wrong, too_many, broken = results[5:]
    assert isinstance(stale, Conflict) and stale.code == "stale_update"
    assert isinstance(no_room, Conflict) and no_room.code == "beds_held"
    assert isinstance(other, Forbidden)
    assert isinstance(wrong, Unauthorized)
    assert isinstance(too_many, DomainError) and too_many.field == "occupied"  # type: ignore[attr-defined]
    assert isinstance(broken, RequestValidationError)

    # What is stored: the newest accepted counts, one kept row and one event per accepted
    # update, nothing of the refused ones.
    assert (pool(a, "icu").occupied, pool(a, "oxygen").occupied) == (3, 9)
    assert (pool(a, "general").total, pool(b, "icu").total) == (20, 3)
    assert (pool(held, "icu").total, pool(held, "icu").held) == (1, 1)
    seeded, batch = (
        [("icu", 1), ("oxygen", 2)],
        [("general", 5), ("icu", 2), ("icu", 3), ("oxygen", 9)],
    )
    assert _kept(a) == sorted(seeded + batch)
    assert _kept(held) == [("icu", 0)]  # the seed's only
    with unit_of_work() as s:
        updated = s.scalars(
            select(Event.subject_id).where(Event.kind == "beds.updated", Event.at >= now)
        ).all()
    assert sorted(updated) == sorted([a, b, a, a, a])


def test_a_batch_answers_the_same_figures_as_the_single_path():
    """The batch reads each pool back as a plain row (free beds computed in SQL), the single
    path as the session's pool: a hospital hears the same held and free beds either way."""
    from dispatch.routes import _put_beds

    old = datetime.now(UTC) - timedelta(minutes=1)
    held = make_hospital("Held", lat=10.85, beds={"icu": (2, 0)}, as_of=old)
    jobs.match_request(new_request("held-patient"))  # holds one of Held's two beds
    other = make_hospital("Other", lat=10.80, beds={"oxygen": (10, 2)}, as_of=old)
    key_held, key_other = _key(held), _key(other)
    now = datetime.now(UTC)
    together = _put_beds_together(
        [
            _put(held, "icu", key_held, now - timedelta(seconds=2), total=4, occupied=1),
            _put(other, "oxygen", key_other, now - timedelta(seconds=2), total=10, occupied=3),
        ]
    )
    alone = _put_beds(_put(held, "icu", key_held, now - timedelta(seconds=1), total=4, occupied=1))
    first = together[0]
    assert isinstance(first, schemas.PoolOut), together
    assert (first.held, first.available) == (1, 2)  # 4 - 1 occupied - 1 held
    same = {"updated_by", "as_of"}
    assert first.model_dump(exclude=same) == alone.model_dump(exclude=same)


def test_a_freed_bed_in_a_batch_asks_for_a_pass_over_the_waiting_queue():
    old = datetime.now(UTC) - timedelta(minutes=1)
    full = make_hospital("Full", beds={"icu": (1, 1)}, as_of=old)
    other = make_hospital("Other", lat=10.80, beds={"oxygen": (1, 1)}, as_of=old)
    request_id = new_request("waiting-patient")
    jobs.match_request(request_id)
    with unit_of_work() as s:
        assert s.get(TransferRequest, request_id).status == "waiting_for_bed"  # type: ignore[union-attr]
    dispatch = Queue("dispatch", connection=get_redis_bytes())
    dispatch.empty()
    now = datetime.now(UTC)
    results = _put_beds_together(
        [
            _put(other, "oxygen", _key(other), now, total=2, occupied=1),  # nobody waits
            _put(full, "icu", _key(full), now, total=2, occupied=1),  # frees the icu bed
        ]
    )
    assert all(isinstance(r, schemas.PoolOut) for r in results), results
    assert dispatch.job_ids == ["waiting-icu"]


def test_a_burst_of_updates_through_the_api_stores_the_newest_counts(live_server):
    old = datetime.now(UTC) - timedelta(minutes=1)
    ids = [
        make_hospital(f"H{i}", lat=10.7 + i / 100, beds={"icu": (50, 0)}, as_of=old)
        for i in range(6)
    ]
    keys = {h: _key(h) for h in ids}
    start = datetime.now(UTC) - timedelta(seconds=30)
    # Ten updates per hospital, each later than the one before, sent at once: whatever
    # order they arrive in, each is stored or refused as stale, and the pool ends with
    # the newest counts that were stored.
    sends = [(h, n, start + timedelta(seconds=n)) for n in range(10) for h in ids]

    def send(item: tuple[str, int, datetime]) -> tuple[str, int, int]:
        h, n, at = item
        body = {"total": 50, "occupied": n, "out_of_service": 0, "as_of": at.isoformat()}
        with httpx.Client(base_url=live_server.url, timeout=30) as c:
            res = c.put(
                f"/api/v1/hospitals/{h}/beds/icu", json=body, headers={"X-Api-Key": keys[h]}
            )
        return h, n, res.status_code

    with ThreadPoolExecutor(max_workers=len(sends)) as pool_:
        codes = list(pool_.map(send, sends))
    assert {c for _, _, c in codes} <= {200, 409}, codes
    for h in ids:
        stored = [n for hh, n, c in codes if hh == h and c == 200]
        assert stored, f"no update of {h} was stored"
        assert pool(h, "icu").occupied == max(stored)
        # One kept row per stored update (and the seed's), nothing for the refused ones.
        assert sorted(n for t, n in _kept(h)[1:]) == sorted(stored)


def test_a_batch_that_cannot_commit_is_written_one_by_one_and_only_the_bad_update_fails():
    """Nothing lost: when the database refuses the batch's commit, every update of it is
    taken alone, so the one it refused fails alone and the others are written (PostgreSQL:
    a deferred trigger refuses, at commit, any kept row with 7 occupied)."""
    if get_engine().dialect.name != "postgresql":
        pytest.skip("a constraint trigger that fails at commit needs PostgreSQL")
    old = datetime.now(UTC) - timedelta(minutes=1)
    a = make_hospital("A", beds={"icu": (10, 1), "oxygen": (10, 1)}, as_of=old)
    b = make_hospital("B", lat=10.80, beds={"icu": (10, 1)}, as_of=old)
    key_a, key_b = _key(a), _key(b)
    with get_engine().begin() as conn:
        conn.execute(text(REFUSE_SEVEN))
    try:
        now = datetime.now(UTC)
        results = _put_beds_together(
            [
                _put(a, "icu", key_a, now, occupied=2),
                _put(a, "oxygen", key_a, now, occupied=7),  # refused at commit
                _put(b, "icu", key_b, now, occupied=3),
            ]
        )
    finally:
        with get_engine().begin() as conn:
            conn.execute(text("DROP TRIGGER refuse_seven ON bed_updates"))
            conn.execute(text("DROP FUNCTION refuse_seven()"))
    first, refused, third = results
    assert isinstance(first, schemas.PoolOut) and first.occupied == 2, results
    assert isinstance(third, schemas.PoolOut) and third.occupied == 3, results
    assert isinstance(refused, DBAPIError) and "seven refused" in str(refused)
    # Stored: the two good updates, kept and counted; the refused one left no trace.
    assert (pool(a, "icu").occupied, pool(a, "oxygen").occupied, pool(b, "icu").occupied) == (
        2,
        1,
        3,
    )
    assert _kept(a) == [("icu", 1), ("icu", 2), ("oxygen", 1)]
    assert _kept(b) == [("icu", 1), ("icu", 3)]


REFUSE_SEVEN = """
CREATE FUNCTION refuse_seven() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF NEW.occupied = 7 THEN
    RAISE EXCEPTION 'seven refused';
  END IF;
  RETURN NULL;
END $$;
CREATE CONSTRAINT TRIGGER refuse_seven AFTER INSERT ON bed_updates
  DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION refuse_seven();
"""
