"""Schema migrations (Alembic): upgrade, and refuse to run on a database that is behind."""

from __future__ import annotations

import importlib
from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory

from kernel.db import get_engine

ROOT = Path(__file__).resolve().parent.parent
DOMAINS = ("hotline", "triage", "dispatch")


class SchemaNotCurrent(RuntimeError):
    pass


def load_models() -> None:
    """Import every table definition so the metadata is complete."""
    importlib.import_module("kernel.accounts")
    importlib.import_module("kernel.events")
    for domain in DOMAINS:
        if (ROOT / domain / "models.py").exists():
            importlib.import_module(f"{domain}.models")
    importlib.import_module("triage.areas")


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
