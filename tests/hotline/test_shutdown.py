"""Stopping an API process loses no routing decision it already made in Redis."""

from __future__ import annotations

import contextlib
import time
from collections.abc import Iterator

import httpx
from sqlalchemy import text

from hotline.models import Call, Offer
from hotline.routing import keys
from kernel.db import get_engine, unit_of_work
from kernel.redisconn import get_redis
from tests.helpers import (
    LiveServer,
    arrive,
    assert_routing_invariants,
    auth,
    make_user,
    offers_for,
    seed_branches,
    token_for,
    wait_for,
)


@contextlib.contextmanager
def offer_row_locked(offer_id: str) -> Iterator[None]:
    """Hold the database so that a write touching the offer waits until we let go."""
    engine = get_engine()
    with engine.connect() as conn:
        if engine.dialect.name == "postgresql":
            conn.execute(text("SELECT id FROM offers WHERE id = :id FOR UPDATE"), {"id": offer_id})
        else:
            # SQLite locks the whole database: the engine begins every transaction with
            # BEGIN IMMEDIATE, so any statement takes the write lock the sweep will wait for.
            conn.execute(text("SELECT 1"))
        try:
            yield
        finally:
            conn.rollback()


def test_a_sweep_in_flight_at_shutdown_still_writes_what_redis_decided():
    seed_branches()
    make_user("doc", "doctor", branches={"3": 1})
    env = {"HOTLINE_OFFER_TIMEOUT_S": "0.5", "HOTLINE_AUTOPAUSE_AFTER_MISSED": "100"}
    server = LiveServer(env).start()
    try:
        with httpx.Client(base_url=server.url, timeout=30) as c:
            h = auth(token_for(c, "doc"))
            c.put("/api/v1/doctors/me/presence", json={"state": "available"}, headers=h)
            call_id = arrive(c, "stop-1", caller="0901").json()["call_id"]
            offer_id = c.get("/api/v1/doctors/me", headers=h).json()["offer"]["offer_id"]
        r = get_redis()
        with offer_row_locked(offer_id):
            # The sweep expires the offer in Redis, then waits for us to write it down.
            wait_for(lambda: not r.exists(keys.offer(offer_id)), what="the sweep to expire it")
            assert server.proc is not None
            server.proc.terminate()
            time.sleep(1.0)  # nothing to wait on: a second in which it must not leave
            assert server.proc.poll() is None, "the server left before its sweep was written"
        server.proc.wait(15)
    finally:
        server.stop()

    with unit_of_work() as s:
        offer = s.get(Offer, offer_id)
        assert offer.outcome == "expired" and offer.resolved_at is not None
        call = s.get(Call, call_id)
        assert call.status in ("queued", "offered")
    open_offers = [o.id for o in offers_for(call_id) if o.outcome is None]
    # Whatever the sweep offered again is known to Redis as well as to the database.
    assert all(r.exists(keys.offer(o)) for o in open_offers)
    assert_routing_invariants(r)
