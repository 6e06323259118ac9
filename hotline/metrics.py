"""GET /metrics: the Prometheus exposition of the call centre, dispatch, triage, workers and HTTP.

Design. Most figures are shared state (calls waiting, beds held, jobs queued) that every API
process sees alike, so they are not kept in any process: a custom collector reads them from
the database and Redis at the moment of the scrape. Whichever process Prometheus reaches
answers with the same, current values, and nothing is lost when a process restarts. Counters
("calls arrived") are counts of rows that are never deleted, so they only go up. Durations that
happen in RQ workers (request to hold, request to admission) are histograms kept in Redis
(kernel.telemetry). HTTP figures belong to each process and come from kernel.http_observe
(prometheus-client's multiprocess mode with several workers).

Cost. One scrape runs a fixed set of queries (QUERIES_PER_SCRAPE: every one an aggregate with
GROUP BY, or the rows of the last window's calls) and two Redis pipelines, whatever the number
of calls, doctors, hospitals or branches.

Labels are low-cardinality words only: branch digit, direction, state, outcome, status,
urgency, bed type, district, severity, queue, sweep name. Never a phone, patient, call or
doctor id.
"""

from __future__ import annotations

import hmac
import logging
import os
import threading
import time
from collections import defaultdict
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

from fastapi import APIRouter, FastAPI, Header
from fastapi.responses import Response
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest
from prometheus_client.core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
    Metric,
)
from prometheus_client.registry import Collector
from rq.utils import str_to_date
from sqlalchemy import case, func, select
from sqlalchemy.orm import Session

from dispatch.models import BedHold, BedPool, Hospital, TransferRequest
from dispatch.vocab import UNMATCHED, HoldOutcome
from hotline.jobs import QUEUES
from hotline.models import Branch, Call, Doctor, Offer
from hotline.routing import keys
from hotline.vocab import CallStatus
from kernel import http_observe, telemetry
from kernel.db import unit_of_work, utcnow
from kernel.errors import Unauthorized
from kernel.redisconn import get_redis
from kernel.scheduler import LEASE_KEY as SCHEDULER_LEASE_KEY
from kernel.settings import get_settings
from triage.models import Assessment, FollowUp
from triage.vocabulary import FollowUpState

log = logging.getLogger(__name__)

# The database queries one scrape runs (a test counts them); the first scrape of a process
# and the first after each midnight UTC run two more (Settled).
QUERIES_PER_SCRAPE = 11
OPEN_FOLLOWUP = (FollowUpState.SCHEDULED, FollowUpState.DISPATCHED)


def _rq_keys(queue: str) -> tuple[str, str]:
    return f"rq:queue:{queue}", f"rq:failed:{queue}"


class Families:
    """The metric families of one scrape, created on first use, yielded in creation order."""

    def __init__(self) -> None:
        self._all: dict[str, Metric] = {}

    def gauge(self, name: str, doc: str, labels: tuple[str, ...] = ()) -> GaugeMetricFamily:
        if name not in self._all:
            self._all[name] = GaugeMetricFamily(name, doc, labels=list(labels))
        fam = self._all[name]
        assert isinstance(fam, GaugeMetricFamily)
        return fam

    def counter(self, name: str, doc: str, labels: tuple[str, ...] = ()) -> CounterMetricFamily:
        if name not in self._all:
            self._all[name] = CounterMetricFamily(name, doc, labels=list(labels))
        fam = self._all[name]
        assert isinstance(fam, CounterMetricFamily)
        return fam

    def add(self, fam: Metric) -> None:
        self._all[fam.name] = fam

    def __iter__(self) -> Iterator[Metric]:
        return iter(self._all.values())


def _seconds(delta: timedelta) -> float:
    return delta.total_seconds()


_NO_CALLS = (0, 0, 0, 0, 0)
CallTotals = dict[tuple[int, str], tuple[int, ...]]
OfferTotals = dict[tuple[int, str | None], int]
Snapshot = tuple[datetime, CallTotals, OfferTotals]
# A call this old no longer changes (answered, abandoned or called back long ago).
SETTLED_AFTER = timedelta(days=2)


def _call_totals(session: Session, *where: Any) -> dict[tuple[int, str], tuple[int, ...]]:
    q = (
        select(
            Call.branch_id,
            Call.direction,
            func.count(),
            func.count(Call.answered_at),
            func.count(Call.abandoned_at),
            func.count(Call.callback_requested_at),
            func.sum(case((Call.status == CallStatus.REJECTED, 1), else_=0)),
        )
        .where(*where)
        .group_by(Call.branch_id, Call.direction)
    )
    return {
        (bid, direction): (n, n_ans, n_ab, n_cb, n_rej or 0)
        for bid, direction, n, n_ans, n_ab, n_cb, n_rej in session.execute(q)
    }


def _offer_totals(session: Session, *where: Any) -> dict[tuple[int, str | None], int]:
    q = (
        select(Call.branch_id, Offer.outcome, func.count())
        .join(Call, Call.id == Offer.call_id)
        .where(*where)
        .group_by(Call.branch_id, Offer.outcome)
    )
    return {(bid, outcome): n for bid, outcome, n in session.execute(q)}


def _add(a: dict[Any, int], b: dict[Any, int]) -> dict[Any, int]:
    return {k: a.get(k, 0) + b.get(k, 0) for k in sorted(set(a) | set(b), key=str)}


class Settled:
    """Totals of the calls (and their offers) created before a daily watermark, kept per process.

    Counting every call ever made at each scrape would grow with the history; calls older than
    SETTLED_AFTER no longer change, so their totals are counted once a day (two extra queries
    on the first scrape after midnight UTC) and each scrape counts only the newer calls, through
    the (branch_id, created_at) index.
    """

    def __init__(self) -> None:
        self.watermark = datetime.min.replace(tzinfo=UTC)
        self.calls: dict[tuple[int, str], tuple[int, ...]] = {}
        self.offers: dict[tuple[int, str | None], int] = {}
        self._lock = threading.Lock()

    def refresh(self, session: Session, now: datetime) -> Snapshot:
        """The watermark and the totals before it, as one consistent snapshot."""
        day = (now - SETTLED_AFTER).replace(hour=0, minute=0, second=0, microsecond=0)
        with self._lock:
            if day != self.watermark:
                self.calls = _call_totals(session, Call.created_at < day)
                self.offers = _offer_totals(session, Call.created_at < day)
                self.watermark = day
            return self.watermark, self.calls, self.offers

    def clear(self) -> None:
        with self._lock:
            self.watermark = datetime.min.replace(tzinfo=UTC)
            self.calls, self.offers = {}, {}


class HotlineCollector(Collector):
    """Reads the shared state at scrape time; see the module's docstring."""

    def __init__(self) -> None:
        self.settled = Settled()

    def collect(self) -> Iterator[Metric]:
        started = time.perf_counter()
        fams = Families()
        up = fams.gauge(
            "hotline_metrics_source_up",
            "1 when the scrape could read the source (database, redis), 0 when it could not.",
            ("source",),
        )
        now = utcnow()
        branches: dict[int, str] = {}
        try:
            with unit_of_work() as session:
                branches = self._database(session, fams, now)
            up.add_metric(["database"], 1)
        except Exception:
            log.exception("metrics: the database could not be read")
            up.add_metric(["database"], 0)
        try:
            self._redis(fams, sorted(branches.values()))
            up.add_metric(["redis"], 1)
        except Exception:
            log.exception("metrics: Redis could not be read")
            up.add_metric(["redis"], 0)
        fams.gauge(
            "hotline_metrics_scrape_duration_seconds",
            "How long this scrape took to read the database and Redis.",
        ).add_metric([], time.perf_counter() - started)
        yield from fams

    # -- the database ------------------------------------------------------------------
    def _database(self, session: Session, fams: Families, now: datetime) -> dict[int, str]:
        settings = get_settings()
        rows = session.execute(select(Branch.id, Branch.digit, Branch.sl_threshold_s)).all()
        branches = {bid: digit for bid, digit, _ in rows}
        thresholds = {bid: threshold for bid, _, threshold in rows}
        settled = self.settled.refresh(session, now)
        self._calls(session, fams, branches, settled)
        self._window(session, fams, branches, thresholds, now, settings.metrics_window_s)
        self._offers(session, fams, branches, settled)
        self._doctors(session, fams)
        self._transfers(session, fams, now)
        self._beds(session, fams, now, settings.bed_staleness_s)
        self._triage(session, fams, now)
        return branches

    def _calls(
        self, session: Session, fams: Families, branches: dict[int, str], settled: Snapshot
    ) -> None:
        labels = ("branch", "direction")
        arrived = fams.counter(
            "hotline_calls_arrived",
            "Calls registered (inbound, call-back tasks, follow-up calls), by branch and direction.",
            labels,
        )
        answered = fams.counter(
            "hotline_calls_answered", "Calls a doctor accepted, by branch and direction.", labels
        )
        abandoned = fams.counter(
            "hotline_calls_abandoned",
            "Calls whose caller hung up before a doctor answered, by branch and direction.",
            labels,
        )
        callback = fams.counter(
            "hotline_calls_callback_requested",
            "Calls whose caller asked to be called back, by branch and direction.",
            labels,
        )
        rejected = fams.counter(
            "hotline_calls_rejected",
            "Calls refused at arrival (branch closed or queue full), by branch and direction.",
            labels,
        )
        watermark, old_calls, _ = settled
        live = _call_totals(
            session, Call.branch_id.in_(list(branches)), Call.created_at >= watermark
        )
        for key in sorted(set(old_calls) | set(live), key=str):
            old, new = old_calls.get(key, _NO_CALLS), live.get(key, _NO_CALLS)
            n, n_ans, n_ab, n_cb, n_rej = (a + b for a, b in zip(old, new, strict=True))
            lv = [branches.get(key[0], "unknown"), key[1]]
            arrived.add_metric(lv, n)
            answered.add_metric(lv, n_ans)
            abandoned.add_metric(lv, n_ab)
            callback.add_metric(lv, n_cb)
            rejected.add_metric(lv, n_rej)

    def _window(
        self,
        session: Session,
        fams: Families,
        branches: dict[int, str],
        thresholds: dict[int, int],
        now: datetime,
        window_s: int,
    ) -> None:
        """Service level and speed of answer of the calls offered in the last window (hotline.kpis)."""
        sl = fams.gauge(
            "hotline_service_level_ratio",
            f"Calls answered within the branch's threshold / (answered + abandoned), over calls "
            f"offered in the last {window_s} s; absent when none resolved.",
            ("branch",),
        )
        asa = fams.gauge(
            "hotline_average_speed_of_answer_seconds",
            f"Mean wait of the calls answered, over calls offered in the last {window_s} s; "
            "absent when none was answered.",
            ("branch",),
        )
        q = select(Call.branch_id, Call.queued_at, Call.answered_at, Call.abandoned_at).where(
            # The branch list lets the (branch_id, created_at) index find the window's calls.
            Call.branch_id.in_(list(branches)),
            Call.created_at >= now - timedelta(seconds=window_s),
            Call.status != CallStatus.REJECTED,
            Call.direction != "followup",
            Call.origin_call_id.is_(None),
            (Call.answered_at.is_not(None)) | (Call.abandoned_at.is_not(None)),
        )
        waits: dict[int, list[float]] = defaultdict(list)
        gave_up: dict[int, int] = defaultdict(int)
        for bid, queued_at, answered_at, abandoned_at in session.execute(q):
            if answered_at is not None:
                waits[bid].append(_seconds(answered_at - queued_at))
            elif abandoned_at is not None:
                gave_up[bid] += 1
        for bid in sorted(set(waits) | set(gave_up)):
            digit = branches.get(bid, "unknown")
            within = sum(1 for w in waits[bid] if w <= thresholds.get(bid, 20))
            sl.add_metric([digit], within / (len(waits[bid]) + gave_up[bid]))
            if waits[bid]:
                asa.add_metric([digit], sum(waits[bid]) / len(waits[bid]))

    def _offers(
        self, session: Session, fams: Families, branches: dict[int, str], settled: Snapshot
    ) -> None:
        made = fams.counter(
            "hotline_offers_made", "Calls offered to a doctor, by branch.", ("branch",)
        )
        ended = fams.counter(
            "hotline_offers_ended",
            "Offers that ended, by branch and outcome (accepted, declined, expired = timed out, "
            "withdrawn).",
            ("branch", "outcome"),
        )
        watermark, _, old_offers = settled
        live = _offer_totals(
            session, Call.branch_id.in_(list(branches)), Call.created_at >= watermark
        )
        totals: dict[str, int] = defaultdict(int)
        for (bid, outcome), n_old_and_new in _add(old_offers, live).items():
            digit = branches.get(bid, "unknown")
            totals[digit] += n_old_and_new
            if outcome is not None:
                ended.add_metric([digit, outcome], n_old_and_new)
        for digit, n in sorted(totals.items()):
            made.add_metric([digit], n)

    def _doctors(self, session: Session, fams: Families) -> None:
        g = fams.gauge(
            "hotline_doctors", "Doctors by presence state (offline included).", ("state",)
        )
        q = select(Doctor.presence, func.count()).group_by(Doctor.presence)
        for state, n in session.execute(q):
            g.add_metric([state], n)

    def _transfers(self, session: Session, fams: Families, now: datetime) -> None:
        by_status = fams.gauge(
            "hotline_transfer_requests", "Transfer requests by status.", ("status",)
        )
        for status, n in session.execute(
            select(TransferRequest.status, func.count()).group_by(TransferRequest.status)
        ):
            by_status.add_metric([status], n)
        waiting = fams.gauge(
            "hotline_transfers_waiting_for_bed",
            "Transfer requests that still need a bed (requested, matching, refused, waiting), "
            "by urgency and bed type.",
            ("urgency", "bed_type"),
        )
        oldest = fams.gauge(
            "hotline_transfer_oldest_wait_seconds",
            "Age of the oldest transfer request still needing a bed, by urgency.",
            ("urgency",),
        )
        q = (
            select(
                TransferRequest.urgency,
                TransferRequest.bed_type,
                func.count(),
                func.min(TransferRequest.requested_at),
            )
            .where(TransferRequest.status.in_(UNMATCHED))
            .group_by(TransferRequest.urgency, TransferRequest.bed_type)
        )
        first: dict[str, datetime] = {}
        for urgency, bed_type, n, earliest in session.execute(q):
            waiting.add_metric([urgency, bed_type], n)
            if earliest is not None:
                at = _aware(earliest)
                first[urgency] = min(first.get(urgency, at), at)
        for urgency, at in sorted(first.items()):
            oldest.add_metric([urgency], max(_seconds(now - at), 0.0))
        holds = fams.gauge(
            "hotline_bed_holds",
            "Bed holds by where they stand now (held = live, accepted, admitted, expired, ...).",
            ("outcome",),
        )
        counts = dict(
            session.execute(select(BedHold.outcome, func.count()).group_by(BedHold.outcome)).all()
        )
        for outcome in HoldOutcome:
            holds.add_metric([outcome], counts.get(outcome, 0))
        fams.counter(
            "hotline_bed_holds_expired", "Bed holds that expired before the hospital accepted."
        ).add_metric([], counts.get(HoldOutcome.EXPIRED, 0))

    def _beds(self, session: Session, fams: Families, now: datetime, stale_s: int) -> None:
        labels = ("bed_type", "district")
        free = fams.gauge(
            "hotline_beds_free", "Free beds (total - occupied - out of service - held).", labels
        )
        held = fams.gauge(
            "hotline_beds_held", "Beds held for a transfer, not yet admitted.", labels
        )
        total = fams.gauge("hotline_beds_total", "Beds in the pools.", labels)
        pools = fams.gauge(
            "hotline_bed_pools", "Bed pools (one per hospital and bed type).", labels
        )
        stale = fams.gauge(
            "hotline_bed_pools_stale",
            f"Bed pools whose count is older than {stale_s} s or was never sent.",
            labels,
        )
        oldest = fams.gauge(
            "hotline_bed_data_oldest_age_seconds",
            "Age of the oldest bed count among the pools that have beds.",
            ("bed_type",),
        )
        cutoff = now - timedelta(seconds=stale_s)
        q = (
            select(
                BedPool.bed_type,
                Hospital.district,
                func.sum(BedPool.total - BedPool.occupied - BedPool.out_of_service - BedPool.held),
                func.sum(BedPool.held),
                func.sum(BedPool.total),
                func.count(),
                func.sum(case(((BedPool.as_of.is_(None)) | (BedPool.as_of < cutoff), 1), else_=0)),
                func.min(case((BedPool.total > 0, BedPool.as_of), else_=None)),
            )
            .join(Hospital, Hospital.id == BedPool.hospital_id)
            .group_by(BedPool.bed_type, Hospital.district)
        )
        first: dict[str, datetime] = {}
        for (
            bed_type,
            district,
            n_free,
            n_held,
            n_total,
            n_pools,
            n_stale,
            earliest,
        ) in session.execute(q):
            lv = [bed_type, district or "unknown"]
            free.add_metric(lv, n_free or 0)
            held.add_metric(lv, n_held or 0)
            total.add_metric(lv, n_total or 0)
            pools.add_metric(lv, n_pools)
            stale.add_metric(lv, n_stale or 0)
            if earliest is not None:
                at = _aware(earliest)
                first[bed_type] = min(first.get(bed_type, at), at)
        for bed_type, at in sorted(first.items()):
            oldest.add_metric([bed_type], max(_seconds(now - at), 0.0))

    def _triage(self, session: Session, fams: Families, now: datetime) -> None:
        signed = fams.counter(
            "hotline_assessments_signed", "Assessments signed, by severity class.", ("severity",)
        )
        for severity, n in session.execute(
            select(Assessment.severity, func.count()).group_by(Assessment.severity)
        ):
            signed.add_metric([severity or "unclassified"], n)
        followups = fams.gauge(
            "hotline_followups",
            "Follow-up calls owed: due (past due, not yet overdue) and overdue (past the "
            "escalation time) among those not done; scheduled = not yet due.",
            ("state",),
        )
        escalations = fams.counter(
            "hotline_followup_escalations",
            "Follow-ups escalated because nobody reached the patient.",
        )
        is_open = FollowUp.state.in_(OPEN_FOLLOWUP)
        q = select(
            func.sum(case((is_open & (FollowUp.due_at > now), 1), else_=0)),
            func.sum(
                case(
                    (is_open & (FollowUp.due_at <= now) & (FollowUp.escalate_at > now), 1), else_=0
                )
            ),
            func.sum(case((is_open & (FollowUp.escalate_at <= now), 1), else_=0)),
            func.count(FollowUp.escalated_at),
        )
        scheduled, due, overdue, escalated = session.execute(q).one()
        followups.add_metric(["scheduled"], scheduled or 0)
        followups.add_metric(["due"], due or 0)
        followups.add_metric(["overdue"], overdue or 0)
        escalations.add_metric([], escalated or 0)

    # -- Redis -------------------------------------------------------------------------
    def _redis(self, fams: Families, digits: list[str]) -> None:
        r = get_redis()
        now_ms = time.time() * 1000
        pipe = r.pipeline(transaction=False)
        for b in digits:
            pipe.zcard(keys.waiting(b))
            pipe.zrange(keys.waiting(b), 0, 0, withscores=True)
            pipe.zcard(keys.available(b))
            pipe.scard(keys.staffed(b))
        for q in QUEUES:
            queue_key, failed_key = _rq_keys(q)
            pipe.llen(queue_key)
            pipe.lindex(queue_key, 0)
            pipe.zcard(failed_key)
            pipe.exists(
                SCHEDULER_LEASE_KEY
            )  # one scheduler (kernel/scheduler.py) serves every queue
        pipe.scard("rq:workers")
        for name in telemetry.HISTOGRAMS:
            pipe.hgetall(telemetry.histogram_key(name))
        pipe.hgetall(telemetry.SWEEPS)
        res = list(pipe.execute())

        waiting = fams.gauge(
            "hotline_calls_waiting", "Calls waiting for a doctor now, by branch.", ("branch",)
        )
        longest = fams.gauge(
            "hotline_call_longest_wait_seconds",
            "How long the longest-waiting call has waited, by branch.",
            ("branch",),
        )
        available = fams.gauge(
            "hotline_doctors_available",
            "Doctors free to take a call of the branch now.",
            ("branch",),
        )
        online = fams.gauge(
            "hotline_doctors_online",
            "Doctors signed in for the branch now (available, offered, on a call, wrap-up).",
            ("branch",),
        )
        for b in digits:
            n_waiting, head, n_avail, n_staffed = res[:4]
            del res[:4]
            waiting.add_metric([b], n_waiting)
            wait_s = (now_ms - float(head[0][1])) / 1000 if head else 0.0
            longest.add_metric([b], max(wait_s, 0.0))
            available.add_metric([b], n_avail)
            online.add_metric([b], n_staffed)

        depth = fams.gauge("hotline_rq_queue_depth", "Jobs waiting in the RQ queue.", ("queue",))
        age = fams.gauge(
            "hotline_rq_oldest_job_age_seconds",
            "Age of the job at the head of the RQ queue (0 when empty).",
            ("queue",),
        )
        failed = fams.gauge(
            "hotline_rq_failed_jobs", "Jobs in the RQ queue's failed registry.", ("queue",)
        )
        scheduler = fams.gauge(
            "hotline_rq_scheduler_up",
            "1 when a worker holds the scheduling lease (kernel/scheduler.py: it is alive), else 0.",
            ("queue",),
        )
        heads: list[tuple[str, str]] = []
        for q in QUEUES:
            n, head_id, n_failed, locked = res[:4]
            del res[:4]
            depth.add_metric([q], n)
            failed.add_metric([q], n_failed)
            scheduler.add_metric([q], 1 if locked else 0)
            if head_id:
                heads.append((q, str(head_id)))
            else:
                age.add_metric([q], 0)
        fams.gauge("hotline_rq_workers", "RQ workers registered now.").add_metric([], res.pop(0))
        if heads:
            pipe = r.pipeline(transaction=False)
            for _, job_id in heads:
                pipe.hget(f"rq:job:{job_id}", "enqueued_at")
            for (q, _), enqueued in zip(heads, pipe.execute(), strict=True):
                seconds = 0.0
                if enqueued:
                    seconds = max(time.time() - str_to_date(enqueued).timestamp(), 0.0)
                age.add_metric([q], seconds)

        for name in telemetry.HISTOGRAMS:
            raw = res.pop(0) or {}
            buckets, total = telemetry.read_histogram(raw)
            fam = HistogramMetricFamily(
                f"hotline_{name}",
                {
                    telemetry.REQUEST_TO_HOLD: "Time from a transfer request to each bed hold placed for it.",
                    telemetry.REQUEST_TO_ADMISSION: "Time from a transfer request to the patient's admission.",
                }[name],
                buckets=buckets,
                sum_value=total,
            )
            fams.add(fam)
        sweeps = fams.gauge(
            "hotline_sweep_last_run_timestamp_seconds",
            "Unix time a periodic sweep last finished (routing_sweep, dispatch_maintenance, "
            "followup_sweep, epidemic_levels).",
            ("sweep",),
        )
        for name, at in sorted((res.pop(0) or {}).items()):
            sweeps.add_metric([name], float(at))


def _aware(at: datetime) -> datetime:
    return at.replace(tzinfo=UTC) if at.tzinfo is None else at


# -- the endpoint ---------------------------------------------------------------------
COLLECTOR = HotlineCollector()
_SHARED = CollectorRegistry(auto_describe=False)
_SHARED.register(COLLECTOR)


def exposition() -> bytes:
    """This process's (or, in multiprocess mode, all processes') HTTP figures, then the shared state."""
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        from prometheus_client import multiprocess

        per_process = CollectorRegistry()
        multiprocess.MultiProcessCollector(per_process)
        http = generate_latest(per_process)
    else:
        http = generate_latest(http_observe.REGISTRY)
    return http + generate_latest(_SHARED)


router = APIRouter()


@router.get("/metrics", include_in_schema=False)
def metrics(authorization: str | None = Header(default=None)) -> Response:
    token = get_settings().metrics_token
    if token:
        offered = (authorization or "").removeprefix("Bearer ").strip()
        if not (authorization or "").startswith("Bearer ") or not hmac.compare_digest(
            offered.encode(), token.encode()
        ):
            raise Unauthorized("metrics need Authorization: Bearer <HOTLINE_METRICS_TOKEN>")
    return Response(exposition(), media_type=CONTENT_TYPE_LATEST)


def install(app: FastAPI) -> None:
    app.include_router(router)
