"""Branches: which one a keypad digit names, and whether it is open now."""

from __future__ import annotations

import time
from datetime import datetime
from zoneinfo import ZoneInfo

from sqlalchemy import event, select
from sqlalchemy.orm import Session, make_transient_to_detached
from sqlalchemy.orm.attributes import instance_state
from sqlalchemy.orm.util import identity_key

from hotline.models import Branch
from kernel.db import utcnow
from kernel.errors import DomainError


class UnknownBranch(DomainError):
    status_code = 422
    code = "unknown_branch"


def branch_by_digit(session: Session, digit: str) -> Branch:
    branch = session.scalar(select(Branch).where(Branch.digit == digit, Branch.active.is_(True)))
    if branch is None:
        raise UnknownBranch([{"field": "digits", "rule": f"no open branch has digit {digit!r}"}])
    return branch


def branch_is_open(branch: Branch, at: datetime | None = None) -> bool:
    if branch.opens_at == branch.closes_at:
        return True
    local = (at or utcnow()).astimezone(ZoneInfo(branch.timezone)).strftime("%H:%M")
    if branch.opens_at < branch.closes_at:
        return branch.opens_at <= local < branch.closes_at
    return local >= branch.opens_at or local < branch.closes_at  # overnight hours


# --------------------------------------------------------------------------- per-process cache
#
# Every arrival names its branch by digit; the branch table changes a few times a day.
# A process keeps a detached copy per digit and attaches it to the request's session
# without a query (Session.merge with load=False). A commit that writes a branch in this
# process clears the cache at once; other processes see the change within
# BRANCH_CACHE_TTL_S.

BRANCH_CACHE_TTL_S = 1.0
_cache: dict[str, tuple[float, Branch]] = {}


def cached_branch_by_digit(session: Session, digit: str) -> Branch:
    """branch_by_digit, from the process's cache while it is fresh."""
    hit = _cache.get(digit)
    if hit is not None and time.monotonic() - hit[0] < BRANCH_CACHE_TTL_S:
        # A batch of arrivals names the same few branches: once attached, the session's
        # own instance is the branch (merging again would copy every column each time).
        attached = session.identity_map.get(identity_key(Branch, hit[1].id))
        if attached is not None and not instance_state(attached).expired_attributes:
            return attached
        return session.merge(hit[1], load=False)
    branch = branch_by_digit(session, digit)
    copy = Branch(**{c.key: getattr(branch, c.key) for c in Branch.__mapper__.column_attrs})
    make_transient_to_detached(copy)
    _cache[digit] = (time.monotonic(), copy)
    return branch


def clear_branch_cache() -> None:
    _cache.clear()


@event.listens_for(Session, "before_flush")
def _note_branch_writes(session: Session, _ctx: object, _instances: object) -> None:
    if any(isinstance(o, Branch) for o in (*session.new, *session.dirty, *session.deleted)):
        session.info["branches_written"] = True


@event.listens_for(Session, "after_commit")
def _clear_after_branch_writes(session: Session) -> None:
    if session.info.pop("branches_written", False):
        clear_branch_cache()


@event.listens_for(Session, "after_soft_rollback")
def _forget_branch_writes(session: Session, _tx: object) -> None:
    session.info.pop("branches_written", None)
