"""Area tables' stored words each bound to their vocabulary by a CHECK named <column>_values

Revision ID: 0008_areas_vocabularies
Revises: 0004_areas

A station's kind and operator had CHECKs named *_known, re-created under the models' names; a
ward level's capacity was unchecked (the rules only ever wrote high, medium or low).
The lists are spelled out (not read from triage.vocabulary) so that this step stays what it was.
"""

from __future__ import annotations

from alembic import op

revision = "0008_areas_vocabularies"
down_revision = "0004_areas"
branch_labels = None
depends_on = None

KINDS = "kind IN ('fixed', 'mobile')"
OPERATORS = "operator IN ('public', 'private_clinic', 'military')"
CAPACITIES = "capacity IN ('high', 'medium', 'low')"


def upgrade() -> None:
    with op.batch_alter_table("medical_stations") as batch:
        batch.drop_constraint(op.f("ck_medical_stations_kind_known"), type_="check")
        batch.drop_constraint(op.f("ck_medical_stations_operator_known"), type_="check")
        batch.create_check_constraint(op.f("ck_medical_stations_kind_values"), KINDS)
        batch.create_check_constraint(op.f("ck_medical_stations_operator_values"), OPERATORS)
    with op.batch_alter_table("epidemic_levels") as batch:
        batch.create_check_constraint(op.f("ck_epidemic_levels_capacity_values"), CAPACITIES)


def downgrade() -> None:
    with op.batch_alter_table("epidemic_levels") as batch:
        batch.drop_constraint(op.f("ck_epidemic_levels_capacity_values"), type_="check")
    with op.batch_alter_table("medical_stations") as batch:
        batch.drop_constraint(op.f("ck_medical_stations_operator_values"), type_="check")
        batch.drop_constraint(op.f("ck_medical_stations_kind_values"), type_="check")
        batch.create_check_constraint(op.f("ck_medical_stations_operator_known"), OPERATORS)
        batch.create_check_constraint(op.f("ck_medical_stations_kind_known"), KINDS)
