"""What one routing decision changed: the rows a Lua script returns, decoded."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from hotline.vocab import CallStatus, OfferOutcome, Presence


@dataclass
class OfferMade:
    offer_id: str
    call_id: str
    doctor_id: str
    branch: str
    expires_ms: int
    offered_ms: int
    caller: str
    call_version: int
    doctor_version: int


@dataclass
class OfferClosed:
    """An offer that ended: accepted, declined/withdrawn or expired, with its whole story."""

    offer_id: str
    call_id: str
    doctor_id: str
    outcome: OfferOutcome
    reason: str
    at_ms: int
    offered_ms: int
    expires_ms: int


@dataclass
class CallChange:
    """A call's new routing state; ``doctor_id`` is the doctor it belongs to now ("" if none)."""

    call_id: str
    status: CallStatus
    version: int
    why: str
    doctor_id: str
    at_ms: int


@dataclass
class DoctorChange:
    doctor_id: str
    state: Presence
    version: int
    why: str
    at_ms: int


@dataclass
class Outcome:
    """Everything one routing decision changed, for the database and the consoles."""

    result: str
    detail: str = ""
    # Filled by enqueue: the call's place, the doctors staffing the branch, handle time.
    position: int | None = None
    staffed: int = 0
    aht_s: float | None = None
    offers: list[OfferMade] = field(default_factory=list)
    offers_closed: list[OfferClosed] = field(default_factory=list)
    calls: list[CallChange] = field(default_factory=list)
    doctors: list[DoctorChange] = field(default_factory=list)


def parse(result: str, detail: str, rows_json: str | list[Any]) -> Outcome:
    """Decode the rows a routing script returned (see prelude.lua for their shapes)."""
    rows = json.loads(rows_json) if isinstance(rows_json, str) else rows_json
    # cjson encodes an empty table as {} rather than [].
    if isinstance(rows, dict):
        rows = []
    out = Outcome(result=result, detail=detail)
    for row in rows:
        kind = row[0]
        if kind == "offer":
            out.offers.append(
                OfferMade(
                    offer_id=row[1],
                    call_id=row[2],
                    doctor_id=row[3],
                    branch=row[4],
                    expires_ms=int(row[5]),
                    offered_ms=int(row[6]),
                    caller=row[7],
                    call_version=int(row[8]),
                    doctor_version=int(row[9]),
                )
            )
        elif kind in ("withdrawn", "expired", "accepted"):
            out.offers_closed.append(
                OfferClosed(
                    offer_id=row[1],
                    call_id=row[2],
                    doctor_id=row[3],
                    # A doctor's "no" is a decline, not a withdrawal.
                    outcome=OfferOutcome.DECLINED if row[4] == "declined" else OfferOutcome(kind),
                    reason=row[4],
                    at_ms=int(row[5]),
                    offered_ms=int(row[6]),
                    expires_ms=int(row[7]),
                )
            )
        elif kind == "call":
            out.calls.append(
                CallChange(row[1], CallStatus(row[2]), int(row[3]), row[4], row[5], int(row[6]))
            )
        elif kind == "doc":
            out.doctors.append(
                DoctorChange(row[1], Presence(row[2]), int(row[3]), row[4], int(row[5]))
            )
    return out
