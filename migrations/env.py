"""Alembic environment: runs migrations on the engine the settings select."""

from __future__ import annotations

from alembic import context

from hotline.tables import load_all
from kernel.db import Base, get_engine

load_all()
target_metadata = Base.metadata


def run() -> None:
    engine = get_engine()
    with engine.connect() as conn:
        context.configure(
            connection=conn,
            target_metadata=target_metadata,
            render_as_batch=conn.dialect.name == "sqlite",
            compare_type=True,
        )
        with context.begin_transaction():
            context.run_migrations()
        conn.commit()


run()
