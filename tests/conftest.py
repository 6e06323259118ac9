"""Shared fixtures: a real database and a real Redis, clean before each test.

With DATABASE_URL / REDIS_URL set (CI does), the suite runs against those servers;
otherwise against the embedded default (SQLite file + a Redis server started here).
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

# Settings are read once per process: fix the environment before importing the app.
_DATA = Path(tempfile.mkdtemp(prefix="hotline-test-"))
os.environ.setdefault("HOTLINE_DATA_DIR", str(_DATA))
os.environ.setdefault("HOTLINE_JWT_SECRET", "test-jwt-secret-0123456789abcdef")
os.environ.setdefault("HOTLINE_TELEPHONY_SECRET", "test-telephony-secret-0123456789")
os.environ.setdefault("HOTLINE_RUN_SWEEPER", "false")

from sqlalchemy import inspect, text  # noqa: E402

from hotline.tables import load_all  # noqa: E402
from kernel import migrate  # noqa: E402
from kernel.db import Base, get_engine, reset_engine, unit_of_work  # noqa: E402
from kernel.redisconn import get_redis, redis_url  # noqa: E402
from kernel.security import sign_body  # noqa: E402
from kernel.settings import get_settings  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
PASSWORD = "correct-horse-battery"


def _reset_database() -> None:
    engine = get_engine()
    if engine.dialect.name == "postgresql":
        with engine.begin() as conn:
            conn.execute(text("DROP SCHEMA public CASCADE"))
            conn.execute(text("CREATE SCHEMA public"))
    reset_engine()
    migrate.upgrade()


def _truncate_all() -> None:
    load_all()
    engine = get_engine()
    existing = set(inspect(engine).get_table_names())
    tables = [t.name for t in reversed(Base.metadata.sorted_tables) if t.name in existing]
    with engine.begin() as conn:
        if engine.dialect.name == "postgresql":
            conn.execute(text(f"TRUNCATE {', '.join(tables)} RESTART IDENTITY CASCADE"))
        else:
            for name in tables:
                conn.execute(text(f"DELETE FROM {name}"))


@pytest.fixture(scope="session", autouse=True)
def _database() -> Iterator[None]:
    redis_url()  # start the embedded Redis once, if that is the mode
    _reset_database()
    # The suite is a composition root too: services called in-process reach the call centre.
    from hotline import followups

    followups.register()
    yield


@pytest.fixture(autouse=True)
def clean_state() -> Iterator[None]:
    _truncate_all()
    get_redis().flushdb()
    settings = get_settings()
    saved = settings.model_dump()
    yield
    for k, v in saved.items():
        setattr(settings, k, v)
    get_redis().flushdb()


@pytest.fixture
def settings() -> Any:
    return get_settings()


@pytest.fixture
def r() -> Any:
    return get_redis()


@pytest.fixture
def client() -> Iterator[Any]:
    from fastapi.testclient import TestClient

    from hotline.app import create_app

    with TestClient(create_app()) as c:
        yield c


# --------------------------------------------------------------------------- helpers


def signed_post(client: Any, path: str, payload: Any = None, *, raw: bytes | None = None) -> Any:
    body = raw if raw is not None else json.dumps(payload or {}).encode()
    return client.post(
        path,
        content=body,
        headers={"X-Hotline-Signature": sign_body(body), "Content-Type": "application/json"},
    )


def arrive(client: Any, pcid: str, caller: str = "0901234567", digits: str = "3") -> Any:
    return signed_post(
        client,
        "/api/v1/telephony/calls",
        {"provider_call_id": pcid, "caller": caller, "digits": digits},
    )


def seed_branches() -> None:
    from hotline.demo import seed_branches as seed

    with unit_of_work() as session:
        seed(session)


def make_user(
    username: str,
    role: str,
    *,
    hospital_id: str | None = None,
    branches: dict[str, int] | None = None,
) -> str:
    """Create an account (and a doctor profile when branches are given); returns its id."""
    from hotline import doctors
    from kernel import accounts

    with unit_of_work() as session:
        user = accounts.create_user(
            session, username=username, password=PASSWORD, role=role, hospital_id=hospital_id
        )
        if branches:
            doctors.create_doctor(
                session, user_id=user.id, full_name=f"Dr {username}", branches=branches
            )
        return user.id


def token_for(client: Any, username: str) -> str:
    res = client.post("/api/v1/auth/token", data={"username": username, "password": PASSWORD})
    assert res.status_code == 200, res.text
    return str(res.json()["access_token"])


def auth(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def doctor_id_for(username: str) -> str:
    from sqlalchemy import select

    from hotline.models import Doctor
    from kernel.accounts import User

    with unit_of_work() as session:
        return str(
            session.scalar(
                select(Doctor.id)
                .join(User, User.id == Doctor.user_id)
                .where(User.username == username)
            )
        )


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class LiveServer:
    """The real API in its own process (uvicorn), sharing this test's database and Redis."""

    def __init__(self, env_overrides: dict[str, str] | None = None):
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.env = {
            **os.environ,
            "REDIS_URL": redis_url(),
            "HOTLINE_RUN_SWEEPER": "true",
            **(env_overrides or {}),
        }
        if get_settings().database_url:
            self.env["DATABASE_URL"] = get_settings().database_url or ""
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
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                if httpx.get(self.url + "/healthz", timeout=0.5).status_code == 200:
                    return self
            except httpx.HTTPError:
                pass
            if self.proc.poll() is not None:
                raise RuntimeError("live server exited during start")
            time.sleep(0.1)
        raise RuntimeError("live server did not start")

    def stop(self, *, kill: bool = False) -> None:
        if self.proc and self.proc.poll() is None:
            if kill:
                self.proc.kill()
            else:
                self.proc.terminate()
            self.proc.wait(15)


@pytest.fixture
def live_server() -> Iterator[LiveServer]:
    server = LiveServer().start()
    yield server
    server.stop()
