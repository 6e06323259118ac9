"""Triage's words: every class, decision and state a triage or area record stores, one StrEnum each.

A stored column of one of these words has a CHECK built from its enum (kernel.db.one_of), so a
word that is not here cannot reach the database. Values are what the API and the records carry;
never rename one without a migration of the rows that hold it.
"""

from __future__ import annotations

from enum import StrEnum


class Consciousness(StrEnum):
    """ACVPU as NEWS2 scores it: anything but alert scores 3 and is a warning sign."""

    ALERT = "alert"
    CONFUSION = "confusion"
    VOICE = "voice"
    PAIN = "pain"
    UNRESPONSIVE = "unresponsive"


class News2Risk(StrEnum):
    """NEWS2's clinical risk bands (RCP 2017)."""

    LOW = "low"
    LOW_MEDIUM = "low-medium"
    MEDIUM = "medium"
    HIGH = "high"


class Severity(StrEnum):
    """The Covid-19 severity class the HCMC Department of Health taught from 4689/QĐ-BYT."""

    MILD = "mild"
    MODERATE = "moderate"
    SEVERE = "severe"
    CRITICAL = "critical"


class Action(StrEnum):
    """What a disposition decides: keep the patient at home or move them."""

    HOME_CARE = "home_care"
    TRANSFER = "transfer"


class LevelOfCare(StrEnum):
    """Where a transfer goes; also the bed type triage asks dispatch for."""

    OXYGEN = "oxygen"
    ICU = "icu"


class Urgency(StrEnum):
    """How fast a transfer decision must be acted on."""

    URGENT = "urgent"
    EMERGENCY = "emergency"


class IsolationPlace(StrEnum):
    HOME = "home"
    CONCENTRATED = "concentrated"
    HOSPITAL = "hospital"


class Outcome(StrEnum):
    """How a patient's episode ended; a patient with an outcome takes no new assessment."""

    RECOVERED = "recovered"
    DIED = "died"
    TRANSFERRED = "transferred"


class FollowUpState(StrEnum):
    """A follow-up moves forward only: scheduled -> dispatched -> escalated -> done, or cancelled."""

    SCHEDULED = "scheduled"
    DISPATCHED = "dispatched"
    ESCALATED = "escalated"
    DONE = "done"
    CANCELLED = "cancelled"


class TransferState(StrEnum):
    """Queued while dispatch could not take the request (the sweep retries); requested once it has."""

    QUEUED = "queued"
    REQUESTED = "requested"


class StationKind(StrEnum):
    FIXED = "fixed"
    MOBILE = "mobile"


class StationOperator(StrEnum):
    PUBLIC = "public"
    PRIVATE_CLINIC = "private_clinic"
    MILITARY = "military"


class Capacity(StrEnum):
    """A ward's response capacity by Decision 218/QĐ-BYT, lowest first."""

    LOW = "low"
    MEDIUM = "medium"
    HIGH = "high"
