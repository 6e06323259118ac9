"""The call centre's status words are checked against their vocabularies

Revision ID: 0009_hotline_vocabularies
Revises: 0005_calls_answered_by
"""

from __future__ import annotations

from alembic import op

revision = "0009_hotline_vocabularies"
down_revision = "0005_calls_answered_by"
branch_labels = None
depends_on = None

# The words as they stand at this revision: a later vocabulary change writes its own
# migration rather than editing these.
CHECKS = {
    "calls": {
        "status": (
            "queued",
            "offered",
            "callback_pending",
            "connected",
            "wrap_up",
            "completed",
            "abandoned",
            "rejected",
        ),
        "direction": ("inbound", "callback", "followup"),
        "reject_reason": ("branch_closed", "queue_full"),
    },
    "doctors": {
        "presence": ("offline", "available", "offered", "on_call", "wrap_up", "away"),
    },
    "offers": {"outcome": ("accepted", "declined", "withdrawn", "expired")},
    "gateway_instructions": {"action": ("hold", "bridge", "dial", "hangup", "reject")},
}


def upgrade() -> None:
    # Offers a doctor declined were recorded as withdrawn until now; they stay so.
    for table, columns in CHECKS.items():
        with op.batch_alter_table(table) as batch:
            for column, words in columns.items():
                listed = ", ".join(f"'{w}'" for w in words)
                batch.create_check_constraint(
                    op.f(f"ck_{table}_{column}_values"), f"{column} IN ({listed})"
                )


def downgrade() -> None:
    for table, columns in CHECKS.items():
        with op.batch_alter_table(table) as batch:
            for column in columns:
                batch.drop_constraint(f"ck_{table}_{column}_values", type_="check")
