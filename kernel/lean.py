"""Rows written with one Core INSERT and handed back as ORM objects without a query.

The ORM's unit of work costs an arrival more Python than the INSERT itself (flush
planning, implicit RETURNING, default processing). For a row written once and read
back by the same request, the values are set here, written with a Core statement, and
the instance is attached to the session as already persistent: every column loaded,
nothing pending, so neither a flush nor a lazy load follows.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any, TypeVar, cast

from sqlalchemy import Insert, Table, insert
from sqlalchemy.orm import Session, make_transient_to_detached
from sqlalchemy.orm.attributes import set_committed_value

from kernel import events
from kernel.db import Base

T = TypeVar("T", bound=Base)


def insert_row(
    session: Session, model: type[T], values: dict[str, Any], *, soon: bool = False, **related: Any
) -> T:
    """INSERT `values` (every column not given is NULL) and return the persistent instance.

    related: relationships to set without history (e.g. branch=the loaded branch).
    Raises IntegrityError like a flush would.
    soon: written as insert_soon writes (inside an `inserts_together` block, with the
    block's other rows at its end, where an IntegrityError is raised): only for a row no
    statement of the block reads.
    """
    row = {a.key: values.get(a.key) for a in model.__mapper__.column_attrs}
    columns = {a.columns[0].name: row[a.key] for a in model.__mapper__.column_attrs}
    if soon:
        insert_soon(session, model, columns)
    else:
        session.execute(table_insert(model), columns)
    obj = model(**row)
    make_transient_to_detached(obj)
    session.add(obj)
    for name, value in related.items():
        set_committed_value(obj, name, value)
    return obj


_inserts: dict[type[Base], Insert] = {}


def table_insert(model: type[Base]) -> Insert:
    """A plain INSERT into the model's table, built once: the values come as parameters.

    Building a statement costs more Python than running a cached one; with the same
    statement object each time, SQLAlchemy reuses its compiled form at once.
    """
    stmt = _inserts.get(model)
    if stmt is None:
        stmt = _inserts[model] = insert(cast(Table, model.__table__))
    return stmt


def insert_soon(session: Session, model: type[Base], row: dict[str, Any]) -> None:
    """INSERT a row nothing reads back in this transaction: now, or with the others of its
    table at the end of an `inserts_together` block."""
    gathered: dict[type[Base], list[dict[str, Any]]] | None = session.info.get("inserts_together")
    if gathered is None:
        session.execute(table_insert(model), row)
    else:
        gathered.setdefault(model, []).append(row)


@contextlib.contextmanager
def inserts_together(session: Session) -> Iterator[None]:
    """Rows given to insert_soon in this block are written at its end, one executemany per
    table (and the events recorded in it, in one statement: kernel.events.together).
    On an error nothing of them is written."""
    gathered: dict[type[Base], list[dict[str, Any]]] = {}
    session.info["inserts_together"] = gathered
    try:
        with events.together(session):
            yield
    finally:
        session.info.pop("inserts_together", None)
    for model, rows in gathered.items():
        session.execute(table_insert(model), rows)
