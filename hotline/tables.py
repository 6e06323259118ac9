"""Every table of the application, imported in one place so the metadata is complete.

Migrations (autogenerate and the schema check), the worker's warm-up and the tests use it.
It lives here because hotline is the top of the import chain and may name every domain.
"""

from __future__ import annotations

import importlib

from sqlalchemy.orm import configure_mappers

MODEL_MODULES = (
    "kernel.accounts",
    "kernel.events",
    "kernel.duties",
    "hotline.models",
    "triage.models",
    "triage.areas.models",
    "dispatch.models",
)


def load_all() -> None:
    """Import every model module and configure the mappers (once, before a worker forks)."""
    for name in MODEL_MODULES:
        importlib.import_module(name)
    configure_mappers()
