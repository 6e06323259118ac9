"""Official administrative units in two schemes, the ward picker's search, and where a unit is.

- "2021": province -> district -> ward (the units of the 2021 epidemic; Quận 1, Thủ Đức...).
  The `vietnam-provinces` package ships only the current units, so 2021 units come from our
  own list (triage/data/hcmc_wards_sample.csv, or any areas CSV imported).
- "2025": province -> commune/ward since 1 July 2025 (districts abolished; Ho Chi Minh City
  merged with Bình Dương and Bà Rịa–Vũng Tàu), from the `vietnam-provinces` package.

A 2021 unit's id is its bare code (the ids already in use); a 2025 unit's id is "2025-<code>",
because the two schemes reuse codes for different places.
"""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from kernel.errors import InvalidInput
from triage.areas.models import AreaUnit, District, Province, Ward


class Scheme(StrEnum):
    Y2021 = "2021"
    Y2025 = "2025"


DEMO_SOURCE = "demo list"


def fold(text: str) -> str:
    """Lower case without diacritics (đ -> d), spaces collapsed: "Phường  Bến Thành" -> "phuong ben thanh"."""
    text = text.replace("đ", "d").replace("Đ", "D")
    bare = "".join(c for c in unicodedata.normalize("NFD", text) if unicodedata.category(c) != "Mn")
    return " ".join(bare.lower().split())


def searchable(unit: AreaUnit) -> str:
    """What the picker matches words against: the unit's name, then its district and province."""
    return fold(" ".join(filter(None, (unit.name, unit.district_name, unit.province_name))))


def unit_id(scheme: str, code: str) -> str:
    return code if scheme == Scheme.Y2021 else f"{scheme}-{code}"


def upsert_unit(session: Session, scheme: str, code: str, **fields: Any) -> tuple[AreaUnit, bool]:
    """Insert or update one unit; True when it is new."""
    uid = unit_id(scheme, code)
    unit = session.get(AreaUnit, uid)
    created = unit is None
    if unit is None:
        unit = AreaUnit(id=uid, scheme=scheme, code=code, centre_approximate=True)
        session.add(unit)
    for name, value in fields.items():
        setattr(unit, name, value)
    unit.folded = searchable(unit)
    return unit, created


def sync_ward(session: Session, ward: Ward, *, approximate: bool = True) -> bool:
    """The 2021 unit of a ward of the area list (its id is the ward's code)."""
    district = session.get(District, ward.district_code)
    province = session.get(Province, district.province_code) if district else None
    fields: dict[str, Any] = {
        "name": ward.name,
        "province_code": province.code if province else "",
        "province_name": province.name if province else "",
        "district_code": district.code if district else None,
        "district_name": district.name if district else None,
        "source": DEMO_SOURCE,
    }
    if ward.centre_lat is not None and ward.centre_lon is not None:
        fields |= {
            "centre_lat": ward.centre_lat,
            "centre_lon": ward.centre_lon,
            "centre_approximate": approximate,
        }
    return upsert_unit(session, Scheme.Y2021, ward.code, **fields)[1]


def _package_version() -> str:
    import vietnam_provinces

    return f"vietnam-provinces {vietnam_provinces.__version__}"


def import_2025(session: Session, province_code: str | None = None) -> dict[str, int]:
    """The current two-level units from the package: every commune/ward (of one province if given)."""
    from vietnam_provinces import Province as PkgProvince
    from vietnam_provinces import ProvinceCode
    from vietnam_provinces import Ward as PkgWard

    provinces = {int(p.code): p for p in PkgProvince.iter_all()}
    if province_code is not None:
        if not province_code.isdigit() or int(province_code) not in provinces:
            raise InvalidInput("province", "must be a province code of the 2025 list (e.g. 79)")
        wards = list(PkgWard.iter_by_province(ProvinceCode(int(province_code))))
    else:
        wards = list(PkgWard.iter_all())
    source = _package_version()
    counts = {"units": 0, "created": 0}
    existing = {
        u.id: u for u in session.scalars(select(AreaUnit).where(AreaUnit.scheme == Scheme.Y2025))
    }
    for w in wards:
        p = provinces[int(w.province_code)]
        code = str(int(w.code))
        uid = unit_id(Scheme.Y2025, code)
        unit = existing.get(uid)
        if unit is None:
            unit = AreaUnit(id=uid, scheme=Scheme.Y2025, code=code, centre_approximate=True)
            session.add(unit)
            counts["created"] += 1
        # The package's names sometimes carry a doubled space ("Phường  Rạch Dừa").
        unit.name = " ".join(w.name.split())
        unit.province_code = str(int(p.code))
        unit.province_name = p.name
        unit.district_code = unit.district_name = None
        unit.source = source
        unit.folded = searchable(unit)
        counts["units"] += 1
    session.flush()
    return counts


def import_2021(session: Session) -> dict[str, int]:
    """The 2021 units: the package has none, so our list (every ward of the area list, which
    the demo sample fills) becomes the 2021 scheme."""
    from triage.areas.csv_import import load_sample

    load_sample(session)
    wards = list(session.scalars(select(Ward)))
    created = sum(sync_ward(session, w) for w in wards)
    session.flush()
    return {"units": len(wards), "created": created}


def import_units(session: Session, scheme: str, province_code: str | None = None) -> dict[str, int]:
    if scheme == Scheme.Y2025:
        return import_2025(session, province_code)
    if scheme == Scheme.Y2021:
        if province_code not in (None, "79"):
            raise InvalidInput("province", "the 2021 list covers Ho Chi Minh City (79) only")
        return import_2021(session)
    raise InvalidInput("scheme", "must be 2021 or 2025")


@dataclass(frozen=True)
class Place:
    """What an address shows and where a pick-up goes for one unit."""

    id: str
    scheme: str
    code: str
    name: str
    district_name: str | None
    province_name: str
    centre: tuple[float, float] | None
    centre_approximate: bool


def place(session: Session, area_id: str | None) -> Place | None:
    """The unit an area id names, in either scheme; a ward of the area list that predates the
    unit table still resolves (as a 2021 unit)."""
    if not area_id:
        return None
    unit = session.get(AreaUnit, area_id)
    if unit is not None:
        centre = (
            (unit.centre_lat, unit.centre_lon)
            if unit.centre_lat is not None and unit.centre_lon is not None
            else None
        )
        return Place(
            unit.id,
            unit.scheme,
            unit.code,
            unit.name,
            unit.district_name,
            unit.province_name,
            centre,
            unit.centre_approximate,
        )
    ward = session.get(Ward, area_id)
    if ward is None:
        return None
    district = session.get(District, ward.district_code)
    province = session.get(Province, district.province_code) if district else None
    centre = (
        (ward.centre_lat, ward.centre_lon)
        if ward.centre_lat is not None and ward.centre_lon is not None
        else None
    )
    return Place(
        ward.code,
        Scheme.Y2021,
        ward.code,
        ward.name,
        district.name if district else None,
        province.name if province else "",
        centre,
        True,
    )


def search(session: Session, q: str | None, scheme: str | None, limit: int) -> list[dict[str, Any]]:
    """Units whose name contains every word of q, with or without diacritics, best first:
    names starting with the words before the rest, then by scheme, district and name."""
    stmt = select(AreaUnit)
    if scheme:
        stmt = stmt.where(AreaUnit.scheme == scheme)
    words = fold((q or "").replace(",", " ").replace(";", " ")).split()
    for w in words:
        stmt = stmt.where(AreaUnit.folded.contains(w, autoescape=True))
    rows = list(session.scalars(stmt))
    if scheme in (None, Scheme.Y2021):
        rows += _wards_without_unit(session, words)
    needle = " ".join(words)

    def rank(u: AreaUnit) -> tuple[int, str, str, str, str]:
        # "phuong ben thanh" and "ben thanh" both start the name once its type is set aside.
        name = fold(u.name)
        bare = name.split(" ", 1)[-1] if name.startswith(_TYPES) else name
        starts = 0 if needle and (name.startswith(needle) or bare.startswith(needle)) else 1
        return (starts, u.scheme, u.province_name, u.district_name or "", u.name)

    rows.sort(key=rank)
    return [view(u) for u in rows[:limit]]


def by_id(session: Session, area_id: str) -> list[dict[str, Any]]:
    """The one unit an id names, as a picker choice (none when it names nothing)."""
    unit = session.get(AreaUnit, area_id)
    if unit is not None:
        return [view(unit)]
    return [view(u) for u in _wards_without_unit(session, []) if u.id == area_id]


def _wards_without_unit(session: Session, words: list[str]) -> list[AreaUnit]:
    """Wards written to the area list without a unit row (before the unit table, or straight
    into the table by a test), offered as 2021 units; not added to the session."""
    known = set(session.scalars(select(AreaUnit.id).where(AreaUnit.scheme == Scheme.Y2021)))
    out = []
    for ward in session.scalars(select(Ward)):
        if ward.code in known:
            continue
        where = place(session, ward.code)
        assert where is not None
        unit = AreaUnit(
            id=ward.code,
            scheme=Scheme.Y2021,
            code=ward.code,
            name=ward.name,
            province_code="",
            province_name=where.province_name,
            district_name=where.district_name,
            centre_lat=ward.centre_lat,
            centre_lon=ward.centre_lon,
            centre_approximate=True,
        )
        if all(w in searchable(unit) for w in words):
            out.append(unit)
    return out


_TYPES = ("phuong ", "xa ", "dac khu ", "thi tran ")


def view(u: AreaUnit) -> dict[str, Any]:
    return {
        "code": u.id,
        "scheme": u.scheme,
        "official_code": u.code,
        "name": u.name,
        "district_name": u.district_name,
        "province_name": u.province_name,
        "has_centre": u.centre_lat is not None,
        "centre_approximate": u.centre_approximate,
    }
