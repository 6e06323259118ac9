"""Status words stay inside their vocabularies: the migrated database itself refuses a typo."""

from __future__ import annotations

import re

import pytest
from sqlalchemy import CheckConstraint, inspect, text
from sqlalchemy.exc import IntegrityError

from hotline.tables import load_all
from kernel.db import Base, get_engine, unit_of_work
from tests.helpers import arrive, seed_branches


def _vocabulary_checks() -> list[tuple[str, str, set[str]]]:
    """(table, column, words) for every vocabulary CHECK the models declare."""
    load_all()
    found = []
    for table in Base.metadata.sorted_tables:
        for c in table.constraints:
            if isinstance(c, CheckConstraint) and str(c.name).endswith("_values"):
                column = str(c.sqltext).split(" IN ", 1)[0].strip()
                found.append((table.name, column, set(re.findall(r"'([^']*)'", str(c.sqltext)))))
    return found


def test_every_vocabulary_check_of_the_models_is_in_the_migrated_database():
    checks = _vocabulary_checks()
    assert {(t, c) for t, c, _ in checks} >= {("calls", "status"), ("doctors", "presence")}
    inspector = inspect(get_engine())
    for table, column, words in checks:
        in_db = {
            c["name"]: c["sqltext"]
            for c in inspector.get_check_constraints(table)
            if c["name"] and c["name"].endswith("_values")
        }
        name = f"ck_{table}_{column}_values"
        assert name in in_db, f"{name} is declared by the model but missing from the database"
        assert set(re.findall(r"'([^']*)'", in_db[name])) == words, name


@pytest.mark.parametrize("word", ["ended", "Queued", ""])
def test_a_call_status_outside_the_vocabulary_is_refused(client, word):
    seed_branches()
    call_id = arrive(client, "vocab-1").json()["call_id"]
    with pytest.raises(IntegrityError), unit_of_work() as s:
        s.execute(text("UPDATE calls SET status = :w WHERE id = :id"), {"w": word, "id": call_id})
