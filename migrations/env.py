"""Alembic environment: runs migrations on the engine the settings select."""

from __future__ import annotations

from typing import Any

from alembic import context

from hotline.tables import load_all
from kernel.db import Base, get_engine

load_all()
target_metadata = Base.metadata


def _sqlite_foreign_keys(conn: Any, on: bool) -> None:
    # Batch migrations rebuild a SQLite table by copy, drop and rename; with foreign keys
    # enforced, dropping a referenced table would cascade to the rows that reference it (or be
    # refused). The pragma takes effect only outside a transaction, so it goes to the driver.
    conn.connection.driver_connection.execute(f"PRAGMA foreign_keys={'ON' if on else 'OFF'}")


def run() -> None:
    engine = get_engine()
    with engine.connect() as conn:
        sqlite = conn.dialect.name == "sqlite"
        if sqlite:
            _sqlite_foreign_keys(conn, on=False)
        try:
            context.configure(
                connection=conn,
                target_metadata=target_metadata,
                render_as_batch=sqlite,
                compare_type=True,
            )
            with context.begin_transaction():
                context.run_migrations()
                if sqlite and conn.exec_driver_sql("PRAGMA foreign_key_check").first():
                    raise RuntimeError("a migration left rows whose foreign keys point nowhere")
            conn.commit()
        finally:
            if sqlite:
                conn.rollback()
                _sqlite_foreign_keys(conn, on=True)


run()
