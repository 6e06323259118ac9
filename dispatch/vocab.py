"""The words of dispatch, one vocabulary (a StrEnum) per kind of word; the tables CHECK against them."""

from __future__ import annotations

from enum import StrEnum
from typing import TypeVar

from kernel.errors import InvalidInput


class BedType(StrEnum):
    GENERAL = "general"
    OXYGEN = "oxygen"
    ICU = "icu"
    VENTILATOR = "ventilator"
    ECMO = "ecmo"
    PAEDIATRIC = "paediatric"
    OBSTETRIC = "obstetric"


class Capability(StrEnum):
    OXYGEN = "oxygen"
    ICU = "icu"
    VENTILATOR = "ventilator"
    ECMO = "ecmo"
    PAEDIATRIC = "paediatric"
    OBSTETRIC = "obstetric"


class FacilityStatus(StrEnum):
    OPEN = "open"
    ADVISORY = "advisory"
    FULL = "full"
    CLOSED = "closed"


# A hospital in one of these takes patients; full or closed ones only once their notice lapses.
TAKING_PATIENTS = (FacilityStatus.OPEN, FacilityStatus.ADVISORY)


class Urgency(StrEnum):
    # Declared most urgent first: the order is the rank the queues sort by.
    EMERGENCY = "emergency"
    URGENT = "urgent"
    ROUTINE = "routine"

    @property
    def rank(self) -> int:
        return list(Urgency).index(self)


class TransferStatus(StrEnum):
    REQUESTED = "requested"
    MATCHING = "matching"
    REFUSED = "refused"
    WAITING_FOR_BED = "waiting_for_bed"
    HELD = "held"
    ACCEPTED = "accepted"
    IN_TRANSIT = "in_transit"
    ADMITTED = "admitted"
    CANCELLED = "cancelled"


# A request in one of these states still needs a bed found for it.
UNMATCHED = (
    TransferStatus.REQUESTED,
    TransferStatus.MATCHING,
    TransferStatus.REFUSED,
    TransferStatus.WAITING_FOR_BED,
)
# A live request blocks another request for the same patient.
LIVE = (*UNMATCHED, TransferStatus.HELD, TransferStatus.ACCEPTED, TransferStatus.IN_TRANSIT)


class HoldOutcome(StrEnum):
    HELD = "held"
    ACCEPTED = "accepted"
    ADMITTED = "admitted"
    EXPIRED = "expired"
    REFUSED = "refused"
    CANCELLED = "cancelled"
    OVERRIDDEN = "overridden"


class AmbulanceStatus(StrEnum):
    FREE = "free"
    BUSY = "busy"


Word = TypeVar("Word", bound=StrEnum)


def word(vocabulary: type[Word], value: str, field: str) -> Word:
    """The member a caller's word stands for; a 422 naming the field when it is not one."""
    try:
        return vocabulary(value)
    except ValueError:
        raise InvalidInput(field, f"must be one of {', '.join(vocabulary)}") from None
