"""The call centre's vocabularies: every status word a call, a doctor or an offer can carry.

Each is a StrEnum, so a member is the word itself in JSON, in Redis and in the database,
where a CHECK constraint (kernel.db.one_of) keeps the column inside the vocabulary.
"""

from __future__ import annotations

from enum import StrEnum


class CallStatus(StrEnum):
    QUEUED = "queued"
    OFFERED = "offered"
    CALLBACK_PENDING = "callback_pending"
    CONNECTED = "connected"
    WRAP_UP = "wrap_up"
    COMPLETED = "completed"
    ABANDONED = "abandoned"
    REJECTED = "rejected"


# A call the routing engine still holds (queued, ringing, talking or wrapping up).
LIVE_CALL_STATUSES = (
    CallStatus.QUEUED,
    CallStatus.OFFERED,
    CallStatus.CALLBACK_PENDING,
    CallStatus.CONNECTED,
    CallStatus.WRAP_UP,
)
# A call waiting for a doctor (the caller on hold, or a call-back task).
WAITING_CALL_STATUSES = (CallStatus.QUEUED, CallStatus.OFFERED, CallStatus.CALLBACK_PENDING)


class ReceiptStatus(StrEnum):
    """What the gateway is told of a call it reported: where it stands for the line."""

    QUEUED = "queued"  # waiting for a doctor (on hold, or as a call-back)
    CONNECTED = "connected"  # with a doctor (or wrapping up)
    COMPLETED = "completed"
    ABANDONED = "abandoned"  # the caller hung up before a doctor answered
    REJECTED = "rejected"  # branch closed or queue full


RECEIPT_STATUS = {
    CallStatus.QUEUED: ReceiptStatus.QUEUED,
    CallStatus.OFFERED: ReceiptStatus.QUEUED,
    CallStatus.CALLBACK_PENDING: ReceiptStatus.QUEUED,
    CallStatus.CONNECTED: ReceiptStatus.CONNECTED,
    CallStatus.WRAP_UP: ReceiptStatus.CONNECTED,
    CallStatus.COMPLETED: ReceiptStatus.COMPLETED,
    CallStatus.ABANDONED: ReceiptStatus.ABANDONED,
    CallStatus.REJECTED: ReceiptStatus.REJECTED,
}


class CallDirection(StrEnum):
    INBOUND = "inbound"  # the caller dialled in
    CALLBACK = "callback"  # the hotline calls back (asked for, or an abandoned severe caller)
    FOLLOWUP = "followup"  # a check-in call triage scheduled


class RejectReason(StrEnum):
    BRANCH_CLOSED = "branch_closed"
    QUEUE_FULL = "queue_full"


class Presence(StrEnum):
    OFFLINE = "offline"
    AVAILABLE = "available"
    OFFERED = "offered"
    ON_CALL = "on_call"
    WRAP_UP = "wrap_up"
    AWAY = "away"


class OfferOutcome(StrEnum):
    ACCEPTED = "accepted"
    DECLINED = "declined"
    WITHDRAWN = "withdrawn"  # the caller hung up, the doctor left, or Redis was reset
    EXPIRED = "expired"


class GatewayAction(StrEnum):
    HOLD = "hold"
    BRIDGE = "bridge"
    DIAL = "dial"
    HANGUP = "hangup"
    REJECT = "reject"
