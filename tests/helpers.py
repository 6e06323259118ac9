"""The suite's shared helpers: accounts, telephony, live servers, dispatch, triage and browser pages.

Test files import helpers from here only, never from another test file or a conftest.
Import it after tests/conftest.py has fixed the environment (pytest loads that first).
"""

from __future__ import annotations

import contextlib
import functools
import itertools
import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections import defaultdict
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, TypeVar

import httpx
from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy import select

from dispatch import hospitals, jobs, transfers
from dispatch.beds import BedCounts, update_beds
from dispatch.models import BedPool
from hotline import doctors
from hotline.demo import seed_branches as seed_demo_branches
from hotline.models import Call, Doctor, Offer
from hotline.routing import keys
from kernel import accounts
from kernel.accounts import User, hash_password
from kernel.db import unit_of_work
from kernel.events import Event
from kernel.redisconn import redis_url
from kernel.security import issue_token, signed_headers
from kernel.settings import get_settings
from triage.models import FollowUp
from triage.ports import DueFollowUp

T = TypeVar("T")

# --- The repository, and the password of every account the tests make
ROOT = Path(__file__).resolve().parent.parent
PASSWORD = "correct-horse-battery"


# --- Waiting: poll for the event a test orders on, instead of sleeping and hoping


def wait_for(
    condition: Callable[[], T], *, timeout: float = 15.0, every: float = 0.02, what: str = ""
) -> T:
    """Poll until the condition returns something truthy and return it; fail at the deadline."""
    deadline = time.monotonic() + timeout
    while not (value := condition()):
        assert time.monotonic() < deadline, f"timed out after {timeout} s waiting for {what}"
        time.sleep(every)
    return value


# --- Accounts and tokens


def make_user(
    username: str,
    role: str,
    *,
    hospital_id: str | None = None,
    branches: dict[str, int] | None = None,
) -> str:
    """Create an account (and a doctor profile when branches are given); returns its id."""
    with unit_of_work() as session:
        user = accounts.create_user(
            session, username=username, password=PASSWORD, role=role, hospital_id=hospital_id
        )
        if branches:
            doctors.create_doctor(
                session, user_id=user.id, full_name=f"Dr {username}", branches=branches
            )
        return user.id


@functools.cache
def _password_hash() -> str:
    return hash_password(PASSWORD)


def account_headers(username: str, role: str, *, hospital_id: str | None = None) -> dict[str, str]:
    """An account and its bearer header; the password is hashed once per run (argon2 is slow)."""
    with unit_of_work() as session:
        user = User(
            username=username,
            password_hash=_password_hash(),
            role=role,
            hospital_id=hospital_id,
            display_name=username,
            active=True,
        )
        session.add(user)
        session.flush()
        return auth(issue_token(user))


def token_for(client: Any, username: str) -> str:
    """Sign in through the API (a TestClient or an httpx.Client on a live server)."""
    res = client.post("/api/v1/auth/token", data={"username": username, "password": PASSWORD})
    assert res.status_code == 200, res.text
    return str(res.json()["access_token"])


def auth(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def login(client: Any, username: str, role: str = "doctor") -> dict[str, str]:
    """A new account signed in through the API; returns its bearer header."""
    make_user(username, role)
    return auth(token_for(client, username))


def doctor_id_for(username: str) -> str:
    with unit_of_work() as session:
        return str(
            session.scalar(
                select(Doctor.id)
                .join(User, User.id == Doctor.user_id)
                .where(User.username == username)
            )
        )


# --- Telephony: the gateway's signed webhooks, the branches calls arrive on, the offers made


def signed_post(
    client: Any,
    path: str,
    payload: Any = None,
    *,
    raw: bytes | None = None,
    signed_at: float | None = None,
) -> Any:
    """A webhook as the gateway sends it: signed over time, method, path and body.

    signed_at: when the gateway signed it (a retry is signed anew, at its own time).
    """
    body = raw if raw is not None else json.dumps(payload or {}).encode()
    signed = signed_headers("POST", path, body, now=_signing_time(path, body, signed_at))
    headers = {**signed, "Content-Type": "application/json"}
    return client.post(path, content=body, headers=headers)


def signed_get(client: Any, target: str) -> Any:
    """A signed GET (the instructions feed); target is the path with its query string."""
    return client.get(
        target, headers=signed_headers("GET", target, b"", now=_signing_time(target, b"", None))
    )


_last_signed: dict[tuple[str, bytes], int] = {}


def _signing_time(target: str, body: bytes, signed_at: float | None) -> float:
    # A gateway signs every attempt anew; two identical requests in one second would carry
    # the same signature and the second would be refused as a replay. Tests that send the
    # same request again sign it a second earlier, as a retry a moment later would differ.
    if signed_at is not None:
        return signed_at
    at = int(time.time())
    previous = _last_signed.get((target, body))
    if previous is not None and previous >= at - 1:
        at = previous - 1
    _last_signed[(target, body)] = at
    return at


def arrive(
    client: Any,
    pcid: str,
    caller: str = "0901234567",
    digits: str = "3",
    *,
    signed_at: float | None = None,
) -> Any:
    return signed_post(
        client,
        "/api/v1/telephony/calls",
        {"provider_call_id": pcid, "caller": caller, "digits": digits},
        signed_at=signed_at,
    )


def seed_branches() -> None:
    with unit_of_work() as session:
        seed_demo_branches(session)


def offers_for(call_id: str) -> list[Offer]:
    """The offers made for a call, oldest first."""
    with unit_of_work() as session:
        return list(
            session.scalars(
                select(Offer).where(Offer.call_id == call_id).order_by(Offer.offered_at)
            )
        )


# --- Routing invariants: what every race, crash and fault test ends by checking


def assert_routing_invariants(r: Any) -> tuple[list[Call], list[Offer]]:
    """No call offered to two doctors at once, no doctor holding two offers, one answer per
    call, every fact a call's story implies recorded, and Redis agreeing with the database
    (run it once the servers stand still). Returns the calls and offers it read."""
    with unit_of_work() as s:
        calls = list(s.scalars(select(Call)))
        offers = list(s.scalars(select(Offer)))
        doctors = list(s.scalars(select(Doctor)))
    now = time.time()
    by_call: dict[str, list[tuple[float, float, str]]] = defaultdict(list)
    by_doctor: dict[str, list[tuple[float, float, str]]] = defaultdict(list)
    accepted: dict[str, list[Offer]] = defaultdict(list)
    for o in offers:
        end = o.resolved_at.timestamp() if o.resolved_at else now
        by_call[o.call_id].append((o.offered_at.timestamp(), end, o.id))
        by_doctor[o.doctor_id].append((o.offered_at.timestamp(), end, o.id))
        if o.outcome == "accepted":
            accepted[o.call_id].append(o)
        # Every resolved offer says how and when; every unresolved one is still live.
        assert (o.outcome is None) == (o.resolved_at is None), o.id
        if o.outcome is None:
            assert r.exists(keys.offer(o.id)), f"offer {o.id} open in the database only\n" + story(
                o.call_id, o.doctor_id
            )
    _assert_no_overlap(by_call, "call")
    _assert_no_overlap(by_doctor, "doctor")
    assert all(len(v) == 1 for v in accepted.values()), "a call answered twice"
    for call in calls:
        _assert_call_facts(call, accepted.get(call.id))
        held = r.hget(keys.call(call.id), "st")
        if call.status in ("queued", "offered", "callback_pending"):
            assert held is not None, f"waiting call {call.id} is not in the queue"
        if held is not None:
            assert call.status == held, (call.id, call.status, held)
    for doc in doctors:
        assert doc.presence == (r.hget(keys.doctor(doc.id), "st") or "offline"), doc.id
    return calls, offers


def _assert_no_overlap(intervals: dict[str, list[tuple[float, float, str]]], what: str) -> None:
    for key, spans in intervals.items():
        spans.sort()
        for (_s1, e1, o1), (s2, _e2, o2) in itertools.pairwise(spans):
            assert s2 >= e1, f"{what} {key} held offers {o1} and {o2} at once\n" + story(
                key, o1, o2
            )


def _assert_call_facts(call: Call, took: list[Offer] | None) -> None:
    """Every fact a call's story implies is recorded, whatever order the writes landed in."""
    if took:
        assert call.answered_at is not None, call.id
        assert call.answered_by == took[0].doctor_id, call.id
        assert call.answered_at == took[0].resolved_at, call.id
    else:
        assert call.answered_at is None and call.answered_by is None, call.id
    if call.status in ("connected", "wrap_up", "completed"):
        assert took, f"{call.status} call {call.id} has no accepted offer"
    if call.status in ("wrap_up", "completed", "abandoned"):
        assert call.ended_at is not None, call.id
    if call.status == "completed":
        assert call.completed_at is not None, call.id
    if call.status == "abandoned":
        assert call.abandoned_at is not None and call.answered_at is None, call.id
    else:
        assert call.abandoned_at is None, call.id


def story(*subject_ids: str) -> str:
    """What the event log says happened to these calls and doctors (for a failure message)."""
    with unit_of_work() as s:
        rows = s.scalars(
            select(Event).where(Event.subject_id.in_(subject_ids)).order_by(Event.at, Event.id)
        ).all()
        return "\n".join(
            f"{e.at:%H:%M:%S.%f} {e.subject_type} {e.kind} {e.actor} {e.data}" for e in rows
        )


# --- Live servers and worker processes, sharing this test's database and Redis


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def child_env(overrides: dict[str, str] | None = None) -> dict[str, str]:
    """The environment for a child process that must reach this run's database and Redis."""
    env = {**os.environ, "REDIS_URL": redis_url(), **(overrides or {})}
    if get_settings().database_url:
        env["DATABASE_URL"] = get_settings().database_url or ""
    return env


class LiveServer:
    """The real API in its own process (uvicorn), sharing this test's database and Redis."""

    def __init__(self, env_overrides: dict[str, str] | None = None):
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.env = child_env({"HOTLINE_RUN_SWEEPER": "true", **(env_overrides or {})})
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> LiveServer:
        self.proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "uvicorn",
                "hotline.app:create_app",
                "--factory",
                "--host",
                "127.0.0.1",
                "--port",
                str(self.port),
                "--log-level",
                "warning",
            ],
            env=self.env,
            cwd=ROOT,
        )
        wait_for(self._healthy, timeout=30, every=0.1, what="the live server to start")
        return self

    def _healthy(self) -> bool:
        assert self.proc is not None and self.proc.poll() is None, "live server exited at start"
        try:
            return httpx.get(self.url + "/healthz", timeout=0.5).status_code == 200
        except httpx.HTTPError:
            return False

    def stop(self, *, kill: bool = False) -> None:
        if self.proc and self.proc.poll() is None:
            if kill:
                self.proc.kill()
            else:
                self.proc.terminate()
            self.proc.wait(15)


class LiveWorker:
    """`hotline worker` (all queues, with its scheduler) in its own process, like LiveServer.

    The scheduler queues the periodic duties: the reconciliation pass among them.
    """

    def __init__(self, env_overrides: dict[str, str] | None = None):
        self.env = child_env(env_overrides)
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> LiveWorker:
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "hotline.cli", "worker"],
            env=self.env,
            cwd=ROOT,
            stdout=subprocess.DEVNULL,
            start_new_session=True,
        )
        return self

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(60)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait(10)


# --- Dispatch: hospitals, bed pools, transfer requests and real RQ workers

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


# Vitals a doctor signs for a patient who needs an oxygen bed (NEWS2 at least 6).
OXYGEN_VITALS: dict[str, Any] = {
    "respiratory_rate": 24,
    "spo2": 93,
    "pulse": 96,
    "temperature_c": 38.4,
    "on_oxygen": False,
    "consciousness": "alert",
}


def send_for_bed(
    url: str, doctor: str, patient: dict[str, Any], vitals: dict[str, Any]
) -> tuple[str, str, dict[str, Any]]:
    """Through the live API: the doctor records the patient and signs an assessment whose
    decision is a transfer; the request is then matched and a bed held.
    Returns (patient id, transfer request id, the signed assessment as the API gave it)."""
    with httpx.Client(base_url=url, timeout=30) as http:
        tok = http.post(
            "/api/v1/auth/token", data={"username": doctor, "password": PASSWORD}
        ).json()["access_token"]
        h = {"Authorization": f"Bearer {tok}"}
        p = http.post("/api/v1/triage/patients", json=patient, headers=h).json()
        res = http.post(
            f"/api/v1/triage/patients/{p['id']}/assessments", json={"vitals": vitals}, headers=h
        )
        assert res.status_code == 201, res.text
        signed = res.json()
    rid = str(signed["transfer"]["transfer_request_id"])
    assert jobs.match_request(rid) == "held"  # the matcher, run as a worker runs it
    return str(p["id"]), rid, signed


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


# Short timers so offers expire, wrap-ups end and re-offers happen during a race.
RACE_TIMERS = {
    "HOTLINE_OFFER_TIMEOUT_S": "1.0",
    "HOTLINE_WRAPUP_S": "0.2",
    "HOTLINE_AUTOPAUSE_AFTER_MISSED": "1000",
}


@contextlib.contextmanager
def live_servers(n: int, env: dict[str, str] | None = None) -> Iterator[list[LiveServer]]:
    """n API processes on the race timers (plus env), stopped however the test ends."""
    servers = [LiveServer({**RACE_TIMERS, **(env or {})}).start() for _ in range(n)]
    try:
        yield servers
    finally:
        for server in servers:
            server.stop()


def start_worker(
    queues: str = "dispatch", *, stall_after_claim_s: float = 0
) -> subprocess.Popen[bytes]:
    """A real RQ worker (of `hotline worker`'s class) in its own process group.

    With stall_after_claim_s, it claims each request and then stalls before matching it.
    """
    return subprocess.Popen(
        [sys.executable, "-m", "tests.dispatch.worker", queues, str(stall_after_claim_s)],
        env=child_env(),
        cwd=ROOT,
        start_new_session=True,
    )


def run_workers(n: int = 1, queues: str = "dispatch", timeout: float = 120) -> None:
    procs = [start_worker(queues) for _ in range(n)]
    for p in procs:
        assert p.wait(timeout) == 0


# --- Triage: patients, signed assessments and follow-ups through the API

TRIAGE_API = "/api/v1/triage"
# Vitals that score NEWS2 0 with no warning sign: an adult who can stay at home.
STABLE_VITALS: dict[str, Any] = {
    "respiratory_rate": 16,
    "spo2": 98,
    "on_oxygen": False,
    "systolic_bp": 120,
    "diastolic_bp": 80,
    "pulse": 70,
    "consciousness": "alert",
    "temperature_c": 37.0,
}


def new_patient(client: Any, headers: dict[str, str], **kw: Any) -> dict[str, Any]:
    body = {"full_name": "Nguyễn Văn An", "phones": ["0901234567"], "age_years": 40, **kw}
    res = client.post(f"{TRIAGE_API}/patients", json=body, headers=headers)
    assert res.status_code == 201, res.text
    out: dict[str, Any] = res.json()
    return out


def sign(
    client: Any, headers: dict[str, str], patient_id: str, expect: int = 201, **kw: Any
) -> dict[str, Any]:
    """Sign an assessment of STABLE_VITALS overlaid with kw["vitals"]; kw is the rest of the body."""
    vitals = {**STABLE_VITALS, **kw.pop("vitals", {})}
    res = client.post(
        f"{TRIAGE_API}/patients/{patient_id}/assessments",
        json={"vitals": vitals, **kw},
        headers=headers,
    )
    assert res.status_code == expect, res.text
    out: dict[str, Any] = res.json()
    return out


class RecordingSink:
    """A call centre that only records what triage hands it (the `sink` fixture registers one)."""

    def __init__(self) -> None:
        self.dispatched: list[DueFollowUp] = []
        self.escalated: list[DueFollowUp] = []

    def dispatch(self, session: Any, task: DueFollowUp) -> None:
        self.dispatched.append(task)

    def escalate(self, session: Any, task: DueFollowUp) -> None:
        self.escalated.append(task)

    def answered_call_from(self, session: Any, *, user_id: str, phones: Any) -> bool:
        return False

    def took_task(self, session: Any, *, user_id: str, task_refs: Any) -> bool:
        return False


def followup(fid: str) -> FollowUp:
    with unit_of_work() as session:
        fu = session.get(FollowUp, fid)
        assert fu is not None
        return fu


# --- Browser: headless Chromium on the real pages

CHROMIUM = "/usr/bin/chromium"
ARTIFACTS = ROOT / "test-artifacts"


def in_english(page_or_context: Any) -> None:
    """Open the pages in English (they start in Vietnamese) before the next navigation."""
    page_or_context.add_init_script("localStorage.setItem('hotline.lang', 'en')")


def sign_in(page: Any, url: str, username: str, password: str = PASSWORD) -> None:
    """Open a page and submit its sign-in form; the caller waits for what should follow."""
    page.goto(url)
    page.fill("#username", username)
    page.fill("#password", password)
    page.click("#signin-form button[type=submit]")


def shot(page: Any, name: str) -> Path:
    """Save a full-page screenshot under test-artifacts/ for a person to look at."""
    ARTIFACTS.mkdir(exist_ok=True)
    path = ARTIFACTS / f"{name}.png"
    page.screenshot(path=str(path), full_page=True)
    return path


# --- Record access: a doctor reads a patient's record only through a relationship


def answered_call_from(username: str, phone: str = "0901234567") -> str:
    """A completed call from `phone` answered by `username` (given a doctor profile if it has
    none): the relationship that opens a patient's record on that number. Returns the call id."""
    from hotline.models import Branch
    from kernel.db import utcnow

    with unit_of_work() as session:
        if session.scalar(select(Branch.id).where(Branch.digit == "3")) is None:
            seed_demo_branches(session)
        branch = session.scalar(select(Branch).where(Branch.digit == "3"))
        assert branch is not None
        user_id = session.scalar(select(User.id).where(User.username == username))
        assert user_id, username
        doctor_id = session.scalar(select(Doctor.id).where(Doctor.user_id == user_id))
        if doctor_id is None:
            doctor_id = doctors.create_doctor(
                session, user_id=user_id, full_name=f"Dr {username}", branches={"3": 1}
            ).id
        call = Call(
            provider_call_id=f"pc-{username}-{phone}-{utcnow().timestamp()}",
            caller=phone,
            branch_id=branch.id,
            status="completed",
            doctor_id=doctor_id,
            answered_by=doctor_id,
            answered_at=utcnow(),
            ended_at=utcnow(),
            completed_at=utcnow(),
        )
        session.add(call)
        session.flush()
        return call.id


def ws_ticket(client: Any, token: str) -> str:
    """A single-use websocket ticket for a bearer token (the token never rides in a URL)."""
    res = client.post("/api/v1/ws-tickets", headers=auth(token))
    assert res.status_code == 201, res.text
    return str(res.json()["ticket"])


# --- /metrics as samples


MetricSamples = dict[tuple[str, frozenset[tuple[str, str]]], float]


def parse_metrics(text: str) -> MetricSamples:
    """A /metrics page as {(series name, its labels): value}."""
    out: MetricSamples = {}
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            out[(s.name, frozenset(s.labels.items()))] = s.value
    return out


def metric(samples: MetricSamples, name: str, **labels: str) -> float:
    """The value of the one series with exactly these labels (0 when absent)."""
    return samples.get((name, frozenset(labels.items())), 0.0)
