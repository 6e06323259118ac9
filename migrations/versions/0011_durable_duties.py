"""Periodic duties of the workers' scheduler, with their next due time, kept in the database

Revision ID: 0011_durable_duties
Revises: 0010_hangups_before_call
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import kernel.db

revision = "0011_durable_duties"
down_revision = "0010_hangups_before_call"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "duties",
        sa.Column("name", sa.String(length=64), nullable=False),
        sa.Column("every_s", sa.Float(), nullable=False),
        sa.Column("next_due_at", kernel.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("last_queued_at", kernel.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("last_run_at", kernel.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("last_outcome", sa.String(length=255), nullable=True),
        sa.PrimaryKeyConstraint("name", name=op.f("pk_duties")),
    )


def downgrade() -> None:
    op.drop_table("duties")
