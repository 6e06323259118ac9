"""/metrics: what it shows agrees with the database and Redis at the moment of the scrape, costs a
fixed number of queries whatever the volume, shows nothing personal, and is guarded by its token."""

from __future__ import annotations

from collections import defaultdict
from datetime import UTC, datetime, timedelta
from typing import Any

from rq import Queue
from sqlalchemy import event, func, select

from dispatch import hospitals, jobs
from dispatch.beds import BedCounts, update_beds
from dispatch.models import BedHold, BedPool, Hospital, TransferRequest
from dispatch.vocab import UNMATCHED
from hotline import metrics
from hotline.models import Call
from hotline.routing import keys
from kernel.db import get_engine, unit_of_work
from kernel.redisconn import get_redis_bytes
from tests.helpers import (
    MetricSamples,
    arrive,
    metric,
    new_request,
    parse_metrics,
    seed_branches,
    signed_post,
)


def scrape(client: Any, headers: dict[str, str] | None = None) -> tuple[str, MetricSamples]:
    res = client.get("/metrics", headers=headers or {})
    assert res.status_code == 200, res.text
    return res.text, parse_metrics(res.text)


def total(samples: MetricSamples, name: str, **labels: str) -> float:
    """The sum over every series of the name whose labels include the given ones."""
    want = set(labels.items())
    return sum(v for (n, lv), v in samples.items() if n == name and want <= lv)


def hospital(name: str, district: str, beds: dict[str, tuple[int, int]], as_of: datetime) -> str:
    with unit_of_work() as s:
        h = hospitals.create_hospital(
            s,
            name=name,
            tier=3,
            lat=10.78,
            lon=106.70,
            district=district,
            capabilities=["icu", "oxygen"],
            actor="test",
        )
        update_beds(
            s,
            hospital_id=h.id,
            counts=[BedCounts(t, tot, occ, 0) for t, (tot, occ) in beds.items()],
            as_of=as_of,
            actor="test",
        )
        return h.id


def test_a_scrape_agrees_with_the_database_and_redis(client, r):
    seed_branches()
    phones = [f"09090{n:05d}" for n in range(7)]
    for n, phone in enumerate(phones[:5]):
        assert arrive(client, f"m-3-{n}", caller=phone, digits="3").json()["status"] == "queued"
    for n, phone in enumerate(phones[5:]):
        assert arrive(client, f"m-4-{n}", caller=phone, digits="4").json()["status"] == "queued"
    hung = signed_post(client, "/api/v1/telephony/calls/m-3-0/hangup", {})
    assert hung.status_code == 200, hung.text

    now = datetime.now(UTC)
    hospital("Bệnh viện A", "Quận 1", {"icu": (3, 1), "oxygen": (10, 4)}, now)
    hospital("Bệnh viện B", "Quận 3", {"icu": (1, 0)}, now - timedelta(days=2))
    requests = [new_request(f"patient-{n}", bed_type="icu") for n in range(4)]
    jobs.match_request(requests[0])  # its batch places the other three as well
    with unit_of_work() as s:
        outcomes = s.scalars(
            select(TransferRequest.status).where(TransferRequest.id.in_(requests))
        ).all()
    assert sorted(outcomes) == ["held", "held", "held", "waiting_for_bed"]

    text, samples = scrape(client)

    with unit_of_work() as s:
        waiting_db = dict(
            s.execute(
                select(Call.branch_id, func.count())
                .where(Call.status == "queued")
                .group_by(Call.branch_id)
            ).all()
        )
        arrived_db = s.scalar(select(func.count()).select_from(Call))
        abandoned_db = s.scalar(select(func.count(Call.abandoned_at)))
        held_db: dict[tuple[str, str], int] = defaultdict(int)
        free_db: dict[tuple[str, str], int] = defaultdict(int)
        for p, district in s.execute(
            select(BedPool, Hospital.district).join(Hospital, Hospital.id == BedPool.hospital_id)
        ).all():
            held_db[(p.bed_type, district)] += p.held
            free_db[(p.bed_type, district)] += p.available
        live_holds = s.scalar(
            select(func.count()).select_from(BedHold).where(BedHold.released_at.is_(None))
        )
        unmatched = s.scalar(
            select(func.count())
            .select_from(TransferRequest)
            .where(TransferRequest.status.in_(UNMATCHED))
        )
        ids = list(s.scalars(select(Call.id))) + list(s.scalars(select(TransferRequest.id)))
        hospital_ids = list(s.scalars(select(Hospital.id)))

    # Calls: what Redis queues, what the database records, what the scrape says, all agree.
    for digit, n_queued in (("3", 4), ("4", 2)):
        assert r.zcard(keys.waiting(digit)) == n_queued
        assert metric(samples, "hotline_calls_waiting", branch=digit) == n_queued
    assert sorted(waiting_db.values()) == [2, 4]
    assert total(samples, "hotline_calls_arrived_total") == arrived_db == 7
    assert total(samples, "hotline_calls_abandoned_total") == abandoned_db == 1
    assert metric(samples, "hotline_calls_abandoned_total", branch="3", direction="inbound") == 1
    assert metric(samples, "hotline_call_longest_wait_seconds", branch="3") >= 0

    # Beds: held and free by bed type and district, as the pools count them.
    assert sum(held_db.values()) == live_holds == 3
    for (bed_type, district), held in held_db.items():
        lv = {"bed_type": bed_type, "district": district}
        assert metric(samples, "hotline_beds_held", **lv) == held
        assert metric(samples, "hotline_beds_free", **lv) == free_db[(bed_type, district)]
    assert metric(samples, "hotline_beds_held", bed_type="icu", district="Quận 1") == 2
    assert metric(samples, "hotline_bed_pools_stale", bed_type="icu", district="Quận 3") == 1
    assert metric(samples, "hotline_bed_pools_stale", bed_type="icu", district="Quận 1") == 0
    assert metric(samples, "hotline_bed_holds", outcome="held") == 3

    # Transfers: by status, waiting for a bed, and the request-to-hold histogram.
    assert metric(samples, "hotline_transfer_requests", status="held") == 3
    assert total(samples, "hotline_transfers_waiting_for_bed") == unmatched == 1
    assert metric(samples, "hotline_transfer_request_to_hold_seconds_count") == 3

    # RQ: the depth of each queue is what RQ itself counts.
    for q in ("dispatch", "followups", "maintenance"):
        depth = Queue(q, connection=get_redis_bytes()).count
        assert metric(samples, "hotline_rq_queue_depth", queue=q) == depth
    assert metric(samples, "hotline_metrics_source_up", source="database") == 1
    assert metric(samples, "hotline_metrics_source_up", source="redis") == 1

    # Nothing personal: no phone number, call, request, patient or hospital id in any line.
    for secret in [*phones, *ids, *hospital_ids, "patient-0"]:
        assert secret not in text


def count_statements() -> tuple[list[str], Any]:
    seen: list[str] = []

    def before(_conn: Any, _cursor: Any, statement: str, *_: Any) -> None:
        if not statement.startswith("BEGIN"):  # SQLite's transaction control is not a query
            seen.append(statement)

    event.listen(get_engine(), "before_cursor_execute", before)
    return seen, before


def statements_of_one_scrape(client: Any) -> int:
    seen, listener = count_statements()
    try:
        scrape(client)
    finally:
        event.remove(get_engine(), "before_cursor_execute", listener)
    return len(seen)


def test_one_scrape_runs_the_same_few_queries_whatever_the_volume(client):
    seed_branches()
    metrics.COLLECTOR.settled.clear()
    # The first scrape of a process also counts the settled calls, once for the day.
    assert statements_of_one_scrape(client) == metrics.QUERIES_PER_SCRAPE + 2
    small = statements_of_one_scrape(client)
    assert small == metrics.QUERIES_PER_SCRAPE

    now = datetime.now(UTC)
    for n in range(40):
        arrive(client, f"v-{n}", caller=f"0912{n:06d}", digits="3" if n % 2 else "4")
    for n in range(25):
        hospital(f"BV {n}", f"Quận {n % 5}", {"icu": (4, 1), "oxygen": (6, 2)}, now)
    for n in range(6):
        jobs.match_request(new_request(f"p-{n}"))

    assert statements_of_one_scrape(client) == small


def test_the_token_guards_the_scrape_when_it_is_set(client, settings):
    assert client.get("/metrics").status_code == 200
    settings.metrics_token = "scrape-token-0123456789"
    assert client.get("/metrics").status_code == 401
    wrong = client.get("/metrics", headers={"Authorization": "Bearer not-the-token"})
    assert wrong.status_code == 401
    assert "error" in wrong.json() or "detail" in wrong.json()
    ok = client.get("/metrics", headers={"Authorization": "Bearer scrape-token-0123456789"})
    assert ok.status_code == 200
    assert "hotline_calls_waiting" in ok.text


def test_http_figures_are_labelled_by_route_template_never_by_id(client):
    call_id = "0123456789abcdef0123456789abcdef"
    res = client.get(f"/api/v1/calls/{call_id}")
    assert res.status_code == 401
    assert res.headers["x-request-id"]
    client.get("/no/such/page/0909123456")
    text, samples = scrape(client)
    assert call_id not in text and "0909123456" not in text
    routes = {dict(lv).get("route") for (n, lv) in samples if n == "hotline_http_requests_total"}
    assert "/api/v1/calls/{call_id}" in routes
    assert "unmatched" in routes
    assert (
        metric(
            samples,
            "hotline_http_requests_total",
            method="GET",
            route="/api/v1/calls/{call_id}",
            status="401",
        )
        == 1
    )


def test_calls_older_than_the_settled_watermark_are_counted_once(client):
    seed_branches()
    for n in range(3):
        arrive(client, f"old-{n}", caller=f"0933{n:06d}", digits="3")
    arrive(client, "new-0", caller="0944000000", digits="3")
    hung = signed_post(client, "/api/v1/telephony/calls/old-0/hangup", {})
    assert hung.status_code == 200
    with unit_of_work() as s:
        for call in s.scalars(select(Call).where(Call.provider_call_id.like("old-%"))):
            call.created_at = datetime.now(UTC) - timedelta(days=5)
    metrics.COLLECTOR.settled.clear()  # as a process started after those days would
    for _ in range(2):  # the scrape that counts the settled calls, and the one after it
        _, samples = scrape(client)
        labels = {"branch": "3", "direction": "inbound"}
        assert metric(samples, "hotline_calls_arrived_total", **labels) == 4
        assert metric(samples, "hotline_calls_abandoned_total", **labels) == 1
