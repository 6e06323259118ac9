"""The voice line: where a doctor's phone rings, and the language each branch speaks

Revision ID: 0012_voice
Revises: 0011_durable_duties
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0012_voice"
down_revision = "0011_durable_duties"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("doctors") as batch:
        batch.add_column(sa.Column("phone", sa.String(length=32), nullable=True))
        batch.add_column(sa.Column("client_identity", sa.String(length=64), nullable=True))
    with op.batch_alter_table("branches") as batch:
        batch.add_column(
            sa.Column("language", sa.String(length=8), nullable=False, server_default="vi")
        )


def downgrade() -> None:
    with op.batch_alter_table("branches") as batch:
        batch.drop_column("language")
    with op.batch_alter_table("doctors") as batch:
        batch.drop_column("client_identity")
        batch.drop_column("phone")
