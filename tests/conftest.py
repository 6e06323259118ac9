"""Shared fixtures: a real database and a real Redis, clean before each test.

With DATABASE_URL / REDIS_URL set (CI does), the suite runs against those servers;
otherwise against the embedded default (SQLite file + a Redis server started here).
Helpers live in tests/helpers.py; this file holds fixtures only.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

# Settings are read once per process: fix the environment before importing the app
# (tests.helpers imports it too, so it comes after this as well).
_DATA = Path(tempfile.mkdtemp(prefix="hotline-test-"))
os.environ.setdefault("HOTLINE_DATA_DIR", str(_DATA))
os.environ.setdefault("HOTLINE_JWT_SECRET", "test-jwt-secret-0123456789abcdef")
os.environ.setdefault("HOTLINE_TELEPHONY_SECRET", "test-telephony-secret-0123456789")
os.environ.setdefault("HOTLINE_RUN_SWEEPER", "false")

from sqlalchemy import inspect, text  # noqa: E402
from sqlalchemy.exc import OperationalError  # noqa: E402

from hotline.tables import load_all  # noqa: E402
from kernel import migrate  # noqa: E402
from kernel.db import Base, get_engine, reset_engine  # noqa: E402
from kernel.redisconn import get_redis, redis_url  # noqa: E402
from kernel.settings import get_settings  # noqa: E402
from tests.helpers import LiveServer  # noqa: E402


@pytest.fixture(scope="session", autouse=True)
def _database() -> Iterator[None]:
    redis_url()  # start the embedded Redis once, if that is the mode
    engine = get_engine()
    if engine.dialect.name == "postgresql":
        with engine.begin() as conn:
            conn.execute(text("DROP SCHEMA public CASCADE"))
            conn.execute(text("CREATE SCHEMA public"))
    reset_engine()
    migrate.upgrade()
    # The suite is a composition root too: services called in-process reach the call centre.
    from hotline import followups

    followups.register()
    yield


@pytest.fixture(autouse=True)
def clean_state() -> Iterator[None]:
    load_all()
    engine = get_engine()
    existing = set(inspect(engine).get_table_names())
    tables = [t.name for t in reversed(Base.metadata.sorted_tables) if t.name in existing]
    for attempt in range(5):
        try:
            with engine.begin() as conn:
                if engine.dialect.name == "postgresql":
                    conn.execute(text(f"TRUNCATE {', '.join(tables)} RESTART IDENTITY CASCADE"))
                else:
                    for name in tables:
                        conn.execute(text(f"DELETE FROM {name}"))
            break
        except OperationalError as exc:
            # A server kept for a whole module (the fuzz tests') sweeps and reconciles
            # between its tests: a read of several tables there can deadlock with the
            # TRUNCATE of all of them, and PostgreSQL may pick the TRUNCATE to fail.
            if "deadlock" not in str(exc.orig) or attempt == 4:
                raise
    get_redis().flushdb()
    from hotline.branches import clear_branch_cache

    clear_branch_cache()  # the tables were emptied behind the processes' caches
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


@pytest.fixture
def live_server() -> Iterator[LiveServer]:
    server = LiveServer().start()
    yield server
    server.stop()
