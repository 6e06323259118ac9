"""Sign-in resists guessing: per-account and per-address back-off, audited, refusals change nothing."""

from __future__ import annotations

import json
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import httpx
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from hotline.app import create_app
from kernel.accounts import User
from kernel.db import unit_of_work
from kernel.events import Event
from tests.helpers import PASSWORD, LiveServer, make_user

TOKEN = "/api/v1/auth/token"
WRONG = "not-the-password-123"


@pytest.fixture
def from_address() -> Iterator[Any]:
    """TestClients that connect from a chosen source address."""
    opened: list[TestClient] = []

    def make(address: str) -> TestClient:
        c = TestClient(create_app(), client=(address, 40000))
        c.__enter__()
        opened.append(c)
        return c

    yield make
    for c in opened:
        c.__exit__(None, None, None)


def _sign_in(c: Any, username: str, password: str) -> Any:
    return c.post(TOKEN, data={"username": username, "password": password})


def _events(kind: str | None = None) -> list[dict[str, Any]]:
    with unit_of_work() as s:
        stmt = select(Event).order_by(Event.id)
        if kind:
            stmt = stmt.where(Event.kind == kind)
        return [e.as_message() for e in s.scalars(stmt)]


def _lift(r: Any, pattern: str) -> None:
    """The running lock's time is up (what waiting Retry-After seconds would do)."""
    keys = list(r.scan_iter(pattern))
    assert keys, f"no lock matching {pattern}"
    r.delete(*keys)


def test_an_account_backs_off_exponentially_and_is_audited(
    from_address: Any, r: Any, settings: Any
) -> None:
    # Locks long enough that none runs out while a slow machine checks a password.
    settings.signin_backoff_base_s = 60
    make_user("nurse_a", "doctor")
    a = from_address("10.0.0.1")
    for _ in range(5):
        res = _sign_in(a, "nurse_a", WRONG)
        assert res.status_code == 401 and res.json()["error"] == "invalid_credentials"

    # Locked: even the right password, even from another address, is refused untried.
    for c in (a, from_address("10.0.0.2")):
        res = _sign_in(c, "nurse_a", PASSWORD)
        assert res.status_code == 429, res.text
        # The lock started when the fifth attempt was counted; what is left of it, rounded up.
        retry_after = int(res.headers["Retry-After"])
        assert 1 <= retry_after <= 60
        body = res.json()
        assert body["error"] == "too_many_attempts"
        assert (
            body["detail"]["field"] == "account" and body["detail"]["retry_after_s"] == retry_after
        )

    # Each further failure doubles the wait.
    for lock_s in (120, 240, 480):
        _lift(r, "signin:lock:account:*")
        assert _sign_in(a, "nurse_a", WRONG).status_code == 401
        res = _sign_in(a, "nurse_a", PASSWORD)
        # Part of the lock passed while the password was checked: at most lock_s remain.
        assert res.status_code == 429 and 1 <= int(res.headers["Retry-After"]) <= lock_s

    failed = _events("user.sign_in_failed")
    throttled = _events("user.sign_in_throttled")
    user_id = _user_id("nurse_a")
    assert len(failed) == 8 and {e["subject_id"] for e in failed} == {user_id}
    assert [e["data"]["locked_for_s"] for e in throttled] == [60, 120, 240, 480]
    assert {e["data"]["scope"] for e in throttled} == {"account"}
    assert failed[0]["data"]["address"] == "10.0.0.1"
    # No password, right or wrong, in the audit trail.
    trail = json.dumps(_events())
    assert WRONG not in trail and PASSWORD not in trail


def _user_id(username: str) -> str:
    with unit_of_work() as s:
        uid = s.scalar(select(User.id).where(User.username == username))
        assert uid
        return uid


def test_success_resets_the_account_counter(from_address: Any, r: Any) -> None:
    make_user("nurse_b", "doctor")
    c = from_address("10.0.0.3")
    for _ in range(4):
        assert _sign_in(c, "nurse_b", WRONG).status_code == 401
    assert _sign_in(c, "nurse_b", PASSWORD).status_code == 200
    # A fresh start: four more failures are still free, and the right password still works.
    for _ in range(4):
        assert _sign_in(c, "nurse_b", WRONG).status_code == 401
    assert _sign_in(c, "nurse_b", PASSWORD).status_code == 200
    assert _events("user.sign_in_throttled") == []


def test_an_address_guessing_many_accounts_is_throttled(
    from_address: Any, settings: Any, r: Any
) -> None:
    settings.signin_address_free_attempts = 3
    settings.signin_backoff_base_s = 60
    for name in ("u1", "u2", "u3", "u4"):
        make_user(name, "doctor")
    attacker, colleague = from_address("203.0.113.9"), from_address("198.51.100.7")
    for name in ("u1", "u2", "ghost-account"):
        assert _sign_in(attacker, name, WRONG).status_code == 401
    res = _sign_in(attacker, "u4", PASSWORD)
    assert res.status_code == 429 and res.json()["detail"]["field"] == "address"
    assert 1 <= int(res.headers["Retry-After"]) <= 60
    # The accounts themselves are not locked: the same user from elsewhere signs in.
    assert _sign_in(colleague, "u4", PASSWORD).status_code == 200
    throttled = _events("user.sign_in_throttled")
    assert [(e["data"]["scope"], e["data"]["address"]) for e in throttled] == [
        ("address", "203.0.113.9")
    ]
    unknown = [e for e in _events("user.sign_in_failed") if e["subject_type"] == "username"]
    assert [e["subject_id"] for e in unknown] == ["ghost-account"]


def test_successful_sign_ins_do_not_use_up_an_address(from_address: Any, settings: Any) -> None:
    settings.signin_address_free_attempts = 3
    ward = from_address("192.0.2.50")  # a ward's shared connection
    for i in range(6):
        make_user(f"ward{i}", "doctor")
        assert _sign_in(ward, f"ward{i}", PASSWORD).status_code == 200


def test_a_throttled_refusal_changes_nothing(from_address: Any, settings: Any) -> None:
    settings.signin_backoff_base_s = 60
    make_user("nurse_c", "doctor")
    c = from_address("10.0.0.4")
    for _ in range(5):
        _sign_in(c, "nurse_c", WRONG)
    with unit_of_work() as s:
        before = [(u.id, u.password_hash, u.active) for u in s.scalars(select(User))]
    events_before = _events()
    for password in (PASSWORD, WRONG):
        assert _sign_in(c, "nurse_c", password).status_code == 429
    with unit_of_work() as s:
        after = [(u.id, u.password_hash, u.active) for u in s.scalars(select(User))]
    assert after == before and _events() == events_before


@pytest.fixture
def slow_lock_server() -> Iterator[LiveServer]:
    server = LiveServer({"HOTLINE_SIGNIN_BACKOFF_BASE_S": "600"}).start()
    yield server
    server.stop()


def test_concurrent_guesses_cannot_slip_past_the_count(slow_lock_server: LiveServer) -> None:
    """Attempts are counted before the password is checked: a burst gets five tries, no more."""
    live_server = slow_lock_server
    make_user("nurse_d", "doctor")

    def guess(_: int) -> int:
        return httpx.post(
            live_server.url + TOKEN,
            data={"username": "nurse_d", "password": WRONG},
            timeout=60,
        ).status_code

    with ThreadPoolExecutor(max_workers=24) as pool:
        codes = list(pool.map(guess, range(24)))
    assert codes.count(401) == 5 and codes.count(429) == 19, codes
    assert len(_events("user.sign_in_failed")) == 5
