"""Database engine, sessions and the declarative base with an explicit constraint naming convention."""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any, ClassVar

from sqlalchemy import CheckConstraint, DateTime, Engine, MetaData, String, create_engine, event
from sqlalchemy.orm import DeclarativeBase, Session, sessionmaker
from sqlalchemy.types import TypeDecorator

from kernel.errors import outages
from kernel.settings import Settings, get_settings

NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class UTCDateTime(TypeDecorator[datetime]):
    """Timezone-aware UTC timestamps on every backend (SQLite drops the zone otherwise)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given; use timezone-aware UTC")
        return value.astimezone(UTC)

    def process_result_value(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)
    type_annotation_map: ClassVar[dict[Any, Any]] = {datetime: UTCDateTime()}


def one_of(column: str, vocabulary: type[StrEnum]) -> CheckConstraint:
    """A CHECK that keeps a status column inside its vocabulary (a StrEnum).

    Named ``ck_<table>_<column>_values`` by the naming convention; a NULL passes, so a
    nullable column may still be empty. A migration that changes a vocabulary drops and
    re-creates the constraint under the same name.
    """
    values = ", ".join(f"'{v.value}'" for v in vocabulary)
    return CheckConstraint(f"{column} IN ({values})", name=f"{column}_values")


def utcnow() -> datetime:
    return datetime.now(UTC)


def new_id() -> str:
    return uuid.uuid4().hex


ID = String(32)

_engine: Engine | None = None
_sessionmaker: sessionmaker[Session] | None = None


def _sqlite_pragmas(dbapi_conn: Any, _record: Any) -> None:
    cur = dbapi_conn.cursor()
    # WAL lets the API and the workers read while one writes; the busy timeout
    # makes concurrent writers queue instead of failing.
    cur.execute("PRAGMA journal_mode=WAL")
    cur.execute("PRAGMA busy_timeout=30000")
    cur.execute("PRAGMA foreign_keys=ON")
    cur.execute("PRAGMA synchronous=NORMAL")
    cur.close()


def make_engine(settings: Settings) -> Engine:
    url = settings.sqlalchemy_url
    if url.startswith("sqlite"):
        settings.data_dir.mkdir(parents=True, exist_ok=True)
        engine = create_engine(
            url, connect_args={"check_same_thread": False, "timeout": 30}, pool_size=20
        )
        event.listen(engine, "connect", _sqlite_pragmas)
        # SQLite's default deferred transactions can deadlock two writers that
        # both read first; BEGIN IMMEDIATE serialises writers up front.
        event.listen(engine, "begin", lambda conn: conn.exec_driver_sql("BEGIN IMMEDIATE"))

        @event.listens_for(engine, "connect")
        def _no_pysqlite_begin(dbapi_conn: Any, _record: Any) -> None:
            dbapi_conn.isolation_level = None

        return engine
    engine = create_engine(
        url,
        pool_size=20,
        max_overflow=20,
        pool_pre_ping=True,
        connect_args={"connect_timeout": settings.database_connect_timeout_s},
    )
    # A new connection is the database answering again after an outage (one log line).
    event.listen(engine, "connect", lambda *_: outages.answered("database"))
    return engine


def get_engine() -> Engine:
    global _engine, _sessionmaker
    if _engine is None:
        _engine = make_engine(get_settings())
        _sessionmaker = sessionmaker(_engine, expire_on_commit=False)
    return _engine


def reset_engine() -> None:
    global _engine, _sessionmaker
    if _engine is not None:
        _engine.dispose()
    _engine = None
    _sessionmaker = None


def SessionLocal() -> Session:
    get_engine()
    assert _sessionmaker is not None
    return _sessionmaker()


@contextlib.contextmanager
def unit_of_work() -> Iterator[Session]:
    """A session whose work is committed on success and rolled back on any error."""
    with _committed(SessionLocal()) as session:
        yield session


@contextlib.contextmanager
def _committed(session: Session) -> Iterator[Session]:
    """Commit the session's work on success, roll it back on any error, then close it."""
    try:
        yield session
        session.commit()
    except BaseException:
        session.rollback()
        raise
    finally:
        session.close()


@contextlib.contextmanager
def one_connection_session() -> Iterator[Session]:
    """A unit of work on one pooled connection for its whole life.

    A request that commits twice (an arrival: the row, then what routing decided) keeps
    its connection between the two, instead of returning it to the pool and checking it
    out again (a ping and a reset each time). Committed on success, rolled back on error.
    """
    with (
        get_engine().connect() as conn,
        _committed(Session(bind=conn, expire_on_commit=False)) as session,
    ):
        yield session


def insert_ignore(session: Session, model: type[Base], values: dict[str, Any]) -> None:
    """INSERT that does nothing when the row's key already exists (Postgres and SQLite)."""
    dialect = session.get_bind().dialect.name
    if dialect == "postgresql":
        from sqlalchemy.dialects.postgresql import insert as pg_insert

        session.execute(pg_insert(model).values(**values).on_conflict_do_nothing())
    else:
        from sqlalchemy.dialects.sqlite import insert as sqlite_insert

        session.execute(sqlite_insert(model).values(**values).on_conflict_do_nothing())
