"""Bed figures for Decision 218: free Covid beds per district (3b), staffed ICU beds per province (3c)."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime
from typing import Final

from sqlalchemy import select
from sqlalchemy.orm import Session

from dispatch.beds import open_pools
from dispatch.vocab import BedType
from kernel.db import utcnow
from triage.areas.models import District
from triage.areas.policy import AreaPolicy

# Beds whose availability the ministry counts as ICU capacity (3c).
ICU_BED_TYPES: Final = (BedType.ICU, BedType.VENTILATOR, BedType.ECMO)


@dataclass
class DistrictBeds:
    free_beds: int = 0
    fresh_pools: int = 0
    stale_pools: int = 0
    hospitals: set[str] = field(default_factory=set)


@dataclass
class ProvinceIcuBeds:
    icu_beds: int = 0


def _key(name: str) -> str:
    # Hospitals and areas are typed by different people: "Quận 5" and "quận 5 " are one district.
    return " ".join(name.split()).casefold()


def bed_figures(
    session: Session, pol: AreaPolicy, now: datetime | None = None
) -> tuple[dict[str, DistrictBeds], dict[str, ProvinceIcuBeds]]:
    """Free Covid beds per district code (fresh pools only) and staffed ICU beds per province code."""
    now = now or utcnow()
    district_by_name = {_key(d.name): d for d in session.scalars(select(District))}
    by_district: dict[str, DistrictBeds] = defaultdict(DistrictBeds)
    by_province: dict[str, ProvinceIcuBeds] = defaultdict(ProvinceIcuBeds)
    for pool in open_pools(session, now=now):
        district = district_by_name.get(_key(pool.district))
        if district is None:
            continue
        if pool.bed_type in ICU_BED_TYPES:
            # Staffed beds: those in service, reported or not lately (capacity, not availability).
            by_province[district.province_code].icu_beds += max(pool.total - pool.out_of_service, 0)
        if pool.bed_type not in pol.covid_bed_types:
            continue
        beds = by_district[district.code]
        if pool.stale:
            # A stale count may be long gone: it is not promised to anyone as free.
            beds.stale_pools += 1
            continue
        beds.fresh_pools += 1
        beds.free_beds += max(pool.available, 0)
        beds.hospitals.add(pool.hospital_name)
    return dict(by_district), dict(by_province)
