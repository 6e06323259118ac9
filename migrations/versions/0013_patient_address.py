"""A patient's street address, ward centres, and where each pick-up point came from

Revision ID: 0013_patient_address
Revises: 0012_voice
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0013_patient_address"
# It alters tables of the triage, areas and dispatch branches, so it also merges their heads.
down_revision = (
    "0012_voice",
    "0006_dispatch_vocabularies",
    "0007_triage_vocabularies",
    "0008_areas_vocabularies",
)
depends_on = None
branch_labels = None


def upgrade() -> None:
    op.add_column("triage_patients", sa.Column("street", sa.String(length=200), nullable=True))
    op.add_column("area_wards", sa.Column("centre_lat", sa.Float(), nullable=True))
    op.add_column("area_wards", sa.Column("centre_lon", sa.Float(), nullable=True))
    # Pick-ups recorded before this revision did not say where they came from.
    op.add_column(
        "triage_transfers", sa.Column("pickup_source", sa.String(length=16), nullable=True)
    )
    op.add_column(
        "transfer_requests", sa.Column("pickup_source", sa.String(length=16), nullable=True)
    )


def downgrade() -> None:
    op.drop_column("transfer_requests", "pickup_source")
    op.drop_column("triage_transfers", "pickup_source")
    op.drop_column("area_wards", "centre_lon")
    op.drop_column("area_wards", "centre_lat")
    op.drop_column("triage_patients", "street")
