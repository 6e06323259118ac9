"""Hang-ups that reach us before their call are remembered, so the call is never queued

Revision ID: 0010_hangups_before_call
Revises: 0009_hotline_vocabularies
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import kernel.db

revision = "0010_hangups_before_call"
down_revision = "0009_hotline_vocabularies"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "hangups_before_call",
        sa.Column("provider_call_id", sa.String(length=128), nullable=False),
        sa.Column("hung_up_at", kernel.db.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("provider_call_id", name=op.f("pk_hangups_before_call")),
    )


def downgrade() -> None:
    op.drop_table("hangups_before_call")
