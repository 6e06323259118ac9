"""Triage's stored words each bound to their vocabulary by a CHECK named <column>_values

Revision ID: 0007_triage_vocabularies
Revises: 0003_triage

Patients' outcome and isolation place and the follow-up state had CHECKs named *_known; they
are re-created under the names the models now give them. Severity, and a transfer's bed type,
urgency and state, were unchecked: every word the code has written is in the list.
The lists are spelled out (not read from triage.vocabulary) so that this step stays what it was.
"""

from __future__ import annotations

from alembic import op

revision = "0007_triage_vocabularies"
down_revision = "0003_triage"
branch_labels = None
depends_on = None

# table -> (column, the CHECK it replaces or None, the vocabulary)
CHECKS: dict[str, list[tuple[str, str | None, tuple[str, ...]]]] = {
    "triage_patients": [
        ("outcome", "outcome_known", ("recovered", "died", "transferred")),
        ("isolation_place", "isolation_place_known", ("home", "concentrated", "hospital")),
    ],
    "triage_assessments": [
        ("severity", None, ("mild", "moderate", "severe", "critical")),
    ],
    "triage_followups": [
        ("state", "state_known", ("scheduled", "dispatched", "escalated", "done", "cancelled")),
    ],
    "triage_transfers": [
        ("bed_type", None, ("oxygen", "icu")),
        ("urgency", None, ("urgent", "emergency")),
        ("state", None, ("queued", "requested")),
    ],
}


def _in(column: str, words: tuple[str, ...]) -> str:
    return f"{column} IN ({', '.join(repr(w) for w in words)})"


def upgrade() -> None:
    for table, checks in CHECKS.items():
        with op.batch_alter_table(table) as batch:
            for column, old, words in checks:
                if old is not None:
                    batch.drop_constraint(op.f(f"ck_{table}_{old}"), type_="check")
                batch.create_check_constraint(
                    op.f(f"ck_{table}_{column}_values"), _in(column, words)
                )


def downgrade() -> None:
    for table, checks in CHECKS.items():
        with op.batch_alter_table(table) as batch:
            for column, old, words in checks:
                batch.drop_constraint(op.f(f"ck_{table}_{column}_values"), type_="check")
                if old is not None:
                    batch.create_check_constraint(op.f(f"ck_{table}_{old}"), _in(column, words))
