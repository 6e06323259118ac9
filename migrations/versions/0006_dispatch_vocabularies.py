"""Dispatch's status words are held to their vocabularies by a CHECK per column

Revision ID: 0006_dispatch_vocabularies
Revises: 0002_dispatch
"""

from __future__ import annotations

from alembic import op

revision = "0006_dispatch_vocabularies"
down_revision = "0002_dispatch"
branch_labels = None
depends_on = None

# The words as this revision knows them; dispatch.vocab may grow later, this must not.
BED_TYPES = ("general", "oxygen", "icu", "ventilator", "ecmo", "paediatric", "obstetric")
FACILITY_STATUSES = ("open", "advisory", "full", "closed")
URGENCIES = ("emergency", "urgent", "routine")
TRANSFER_STATUSES = (
    "requested",
    "matching",
    "refused",
    "waiting_for_bed",
    "held",
    "accepted",
    "in_transit",
    "admitted",
    "cancelled",
)
HOLD_OUTCOMES = ("held", "accepted", "admitted", "expired", "refused", "cancelled", "overridden")
AMBULANCE_STATUSES = ("free", "busy")

CHECKS = {
    "hospitals": {"status": FACILITY_STATUSES},
    "bed_pools": {"bed_type": BED_TYPES},
    "bed_updates": {"bed_type": BED_TYPES},
    "transfer_requests": {
        "status": TRANSFER_STATUSES,
        "bed_type": BED_TYPES,
        "urgency": URGENCIES,
    },
    "transfer_history": {"status": TRANSFER_STATUSES},
    "bed_holds": {"outcome": HOLD_OUTCOMES},
    "ambulance_teams": {"status": AMBULANCE_STATUSES},
}
# The checks these replace, and what they said.
REPLACED = {
    "transfer_requests": ("ck_transfer_requests_urgency_known", "urgency", URGENCIES),
    "ambulance_teams": ("ck_ambulance_teams_status_known", "status", AMBULANCE_STATUSES),
}


def _in(column: str, words: tuple[str, ...]) -> str:
    return f"{column} IN ({', '.join(repr(w) for w in words)})"


def upgrade() -> None:
    for table, columns in CHECKS.items():
        with op.batch_alter_table(table) as batch:
            if table in REPLACED:
                batch.drop_constraint(op.f(REPLACED[table][0]), type_="check")
            for column, words in columns.items():
                batch.create_check_constraint(op.f(f"ck_{table}_{column}_values"), _in(column, words))


def downgrade() -> None:
    for table, columns in CHECKS.items():
        with op.batch_alter_table(table) as batch:
            for column in columns:
                batch.drop_constraint(op.f(f"ck_{table}_{column}_values"), type_="check")
            if table in REPLACED:
                name, column, words = REPLACED[table]
                batch.create_check_constraint(op.f(name), _in(column, words))
