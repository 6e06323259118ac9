"""Calls record who answered them, apart from whom they are with now

Revision ID: 0005_calls_answered_by
Revises: 0001_core
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005_calls_answered_by"
down_revision = "0001_core"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("calls") as batch:
        batch.add_column(sa.Column("answered_by", sa.String(length=32), nullable=True))
        batch.create_foreign_key("fk_calls_answered_by_doctors", "doctors", ["answered_by"], ["id"])
    # Until now the answering doctor was the call's doctor once it had been answered.
    op.execute("UPDATE calls SET answered_by = doctor_id WHERE answered_at IS NOT NULL")


def downgrade() -> None:
    with op.batch_alter_table("calls") as batch:
        batch.drop_constraint("fk_calls_answered_by_doctors", type_="foreignkey")
        batch.drop_column("answered_by")
