"""Hospitals by location: matching reads the pools near a pick-up point, not every pool

Revision ID: 0015_hospital_location_index
Revises: 0014_area_units
"""

from __future__ import annotations

from alembic import op

revision = "0015_hospital_location_index"
down_revision = "0014_area_units"
depends_on = None
branch_labels = None


def upgrade() -> None:
    op.create_index("ix_hospitals_location", "hospitals", ["lat", "lon"])


def downgrade() -> None:
    op.drop_index("ix_hospitals_location", table_name="hospitals")
