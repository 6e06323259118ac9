"""Official administrative units in two schemes (2021 three-level, 2025 two-level)

Every ward already in area_wards becomes a 2021 unit with the same id (its code), so the
ward ids patients already carry keep resolving; their centres come along, marked approximate.

Revision ID: 0014_area_units
Revises: 0013_patient_address
"""

from __future__ import annotations

import unicodedata

import sqlalchemy as sa
from alembic import op

revision = "0014_area_units"
down_revision = "0013_patient_address"
depends_on = None
branch_labels = None


def _fold(text: str) -> str:
    # The same folding as triage/areas/units.py (kept here so the migration never changes).
    text = text.replace("đ", "d").replace("Đ", "D")
    bare = "".join(
        c for c in unicodedata.normalize("NFD", text) if unicodedata.category(c) != "Mn"
    )
    return " ".join(bare.lower().split())


def upgrade() -> None:
    units = op.create_table(
        "area_units",
        sa.Column("id", sa.String(length=16), primary_key=True),
        sa.Column("scheme", sa.String(length=4), nullable=False),
        sa.Column("code", sa.String(length=16), nullable=False),
        sa.Column("name", sa.String(length=128), nullable=False),
        sa.Column("folded", sa.String(length=256), nullable=False),
        sa.Column("province_code", sa.String(length=16), nullable=False),
        sa.Column("province_name", sa.String(length=128), nullable=False),
        sa.Column("district_code", sa.String(length=16), nullable=True),
        sa.Column("district_name", sa.String(length=128), nullable=True),
        sa.Column("centre_lat", sa.Float(), nullable=True),
        sa.Column("centre_lon", sa.Float(), nullable=True),
        sa.Column("centre_approximate", sa.Boolean(), nullable=False),
        sa.Column("source", sa.String(length=64), nullable=False),
        sa.UniqueConstraint("scheme", "code", name="uq_area_units_scheme_code"),
        sa.CheckConstraint("scheme IN ('2021', '2025')", name="ck_area_units_scheme_known"),
        sa.CheckConstraint(
            "(centre_lat IS NULL) = (centre_lon IS NULL)",
            name="ck_area_units_centre_both_or_neither",
        ),
    )
    op.create_index("ix_area_units_folded", "area_units", ["folded"])
    conn = op.get_bind()
    rows = conn.execute(
        sa.text(
            "SELECT w.code, w.name, w.centre_lat, w.centre_lon, d.code, d.name, p.code, p.name "
            "FROM area_wards w JOIN area_districts d ON d.code = w.district_code "
            "JOIN area_provinces p ON p.code = d.province_code"
        )
    ).all()
    if rows:
        op.bulk_insert(
            units,
            [
                {
                    "id": code,
                    "scheme": "2021",
                    "code": code,
                    "name": name,
                    "folded": _fold(f"{name} {dname} {pname}"),
                    "province_code": pcode,
                    "province_name": pname,
                    "district_code": dcode,
                    "district_name": dname,
                    "centre_lat": lat if lat is not None and lon is not None else None,
                    "centre_lon": lon if lat is not None and lon is not None else None,
                    "centre_approximate": True,
                    "source": "areas import",
                }
                for code, name, lat, lon, dcode, dname, pcode, pname in rows
            ],
        )


def downgrade() -> None:
    op.drop_index("ix_area_units_folded", table_name="area_units")
    op.drop_table("area_units")
