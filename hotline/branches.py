"""Branches: which one a keypad digit names, and whether it is open now."""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlalchemy.orm import Session

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
