"""Schema migrations (Alembic): upgrade, and refuse to run on a database that is behind."""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory

from kernel.db import get_engine

ROOT = Path(__file__).resolve().parent.parent


class SchemaNotCurrent(RuntimeError):
    pass


def alembic_config() -> Config:
    cfg = Config(str(ROOT / "alembic.ini"))
    cfg.set_main_option("script_location", str(ROOT / "migrations"))
    return cfg


def upgrade() -> None:
    command.upgrade(alembic_config(), "heads")


def pending() -> set[str]:
    script = ScriptDirectory.from_config(alembic_config())
    with get_engine().connect() as conn:
        current = set(MigrationContext.configure(conn).get_current_heads())
    return set(script.get_heads()) - current


def require_current() -> None:
    missing = pending()
    if missing:
        raise SchemaNotCurrent(
            f"database schema is behind (missing {', '.join(sorted(missing))}); "
            "run `hotline migrate` first"
        )
