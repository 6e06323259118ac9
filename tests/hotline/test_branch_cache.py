"""Each arrival names its branch by digit; a process answers that from its cache, and a
session takes the cached branch once: the next arrivals of a batch get the same instance,
with no statement sent for it."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from sqlalchemy import event

from hotline.branches import cached_branch_by_digit
from hotline.demo import seed_branches
from kernel.db import get_engine, unit_of_work


@pytest.fixture
def statements() -> Iterator[list[str]]:
    sent: list[str] = []

    def note(_conn: Any, _cursor: Any, statement: str, *_: Any) -> None:
        sent.append(statement)

    engine = get_engine()
    event.listen(engine, "before_cursor_execute", note)
    yield sent
    event.remove(engine, "before_cursor_execute", note)


def test_a_session_takes_the_cached_branch_once(statements: list[str]) -> None:
    with unit_of_work() as session:
        seed_branches(session)
    with unit_of_work() as session:
        cached_branch_by_digit(session, "3")  # read once: the process caches it
    with unit_of_work() as session:
        statements.clear()
        first = cached_branch_by_digit(session, "3")
        again = cached_branch_by_digit(session, "3")
        assert again is first and first.digit == "3"
        session.expire(first)  # a session's expired copy is not handed out as it is
        fresh = cached_branch_by_digit(session, "3")
        assert fresh is first and fresh.digit == "3" and fresh.active
        assert [s for s in statements if "branches" in s] == []
