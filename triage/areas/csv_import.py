"""Areas from a CSV: provinces, districts, wards and their vaccination figures, upserted row by row."""

from __future__ import annotations

import csv
import io
from collections.abc import Sequence
from datetime import date
from pathlib import Path

from sqlalchemy.orm import Session

from kernel.errors import InvalidInput
from triage.areas import units
from triage.areas.models import District, Province, Ward
from triage.areas.wards import set_vaccination

# The HCMC sample (demo populations); its columns are the ones an import takes.
SAMPLE_CSV = Path(__file__).parent.parent / "data" / "hcmc_wards_sample.csv"

Row = dict[str, str]
REQUIRED_COLUMNS = ("province_code", "district_code", "ward_code", "ward_name")


def read_areas_csv(text: str) -> list[Row]:
    """Rows of an areas CSV; lines starting with # are comments (the sample labels its demo figures there)."""
    lines = [ln for ln in text.splitlines() if ln.strip() and not ln.lstrip().startswith("#")]
    reader = csv.DictReader(io.StringIO("\n".join(lines)))
    missing = [c for c in REQUIRED_COLUMNS if c not in (reader.fieldnames or [])]
    if missing:
        # Not an areas CSV at all (an empty body, JSON sent by mistake): say so, import nothing.
        raise InvalidInput("csv", "the header line must name " + ", ".join(REQUIRED_COLUMNS))
    return [dict(r) for r in reader]


def _int(row: Row, name: str, line: int, *, required: bool = True) -> int | None:
    raw = (row.get(name) or "").strip().replace("_", "")
    if not raw:
        if required:
            raise InvalidInput(f"row {line}: {name}", "is required")
        return None
    try:
        value = int(raw)
    except ValueError:
        raise InvalidInput(f"row {line}: {name}", "must be a whole number") from None
    if value < 0:
        raise InvalidInput(f"row {line}: {name}", "must be 0 or more")
    return value


def _province(session: Session, row: Row, n: int, code: str) -> bool:
    """Upsert the row's province; True when it is new."""
    province = session.get(Province, code)
    created = province is None
    if province is None:
        province = Province(code=code, name=(row.get("province_name") or code).strip())
        session.add(province)
    population = _int(row, "province_population", n, required=False)
    if population:
        province.population = population
    return created


def _district(session: Session, row: Row, n: int, code: str, province_code: str) -> bool:
    district = session.get(District, code)
    created = district is None
    if district is None:
        district = District(code=code, province_code=province_code, name=code)
        session.add(district)
    district.name = (row.get("district_name") or district.name).strip()
    population = _int(row, "district_population", n, required=False)
    if population:
        district.population = population
    return created


def _ward(session: Session, row: Row, n: int, code: str, district_code: str) -> bool:
    population = _int(row, "population", n) or 0
    if population <= 0:
        raise InvalidInput(f"row {n}: population", "must be greater than 0")
    high_risk = _int(row, "high_risk_population", n, required=False) or 0
    if high_risk > population:
        raise InvalidInput(f"row {n}: high_risk_population", "must not exceed population")
    ward = session.get(Ward, code)
    created = ward is None
    if ward is None:
        ward = Ward(
            code=code, district_code=district_code, name=row["ward_name"].strip(), population=1
        )
        session.add(ward)
    ward.district_code = district_code
    ward.name = row["ward_name"].strip()
    ward.population = population
    ward.high_risk_population = high_risk
    ward.demo_figures = (row.get("demo_figures") or "").strip().lower() in ("yes", "true", "1")
    centre = _centre(row, n)
    if centre is not None:
        ward.centre_lat, ward.centre_lon = centre
    return created


def _centre(row: Row, n: int) -> tuple[float, float] | None:
    """The ward's centre from optional centre_lat / centre_lon columns (both or neither)."""
    raw_lat = (row.get("centre_lat") or "").strip()
    raw_lon = (row.get("centre_lon") or "").strip()
    if not raw_lat and not raw_lon:
        return None
    values: list[float] = []
    for name, raw, limit in (("centre_lat", raw_lat, 90), ("centre_lon", raw_lon, 180)):
        try:
            value = float(raw)
        except ValueError:
            raise InvalidInput(f"row {n}: {name}", "must be a number (decimal degrees)") from None
        if not -limit <= value <= limit:
            raise InvalidInput(f"row {n}: {name}", f"must be between -{limit} and {limit}")
        values.append(value)
    return values[0], values[1]


def _vaccination(session: Session, row: Row, n: int, ward_code: str) -> bool:
    """The row's vaccination figure, when it has one."""
    if not (row.get("vaccination_as_of") or "").strip():
        return False
    try:
        as_of = date.fromisoformat(row["vaccination_as_of"].strip())
    except ValueError:
        raise InvalidInput(f"row {n}: vaccination_as_of", "must be YYYY-MM-DD") from None
    set_vaccination(
        session,
        ward_code=ward_code,
        as_of=as_of,
        fully_vaccinated=_int(row, "fully_vaccinated", n) or 0,
        high_risk_fully_vaccinated=_int(row, "high_risk_fully_vaccinated", n) or 0,
        source="csv import",
    )
    return True


def import_areas(session: Session, rows: Sequence[Row]) -> dict[str, int]:
    """Upsert provinces, districts, wards (and vaccination figures when the row has them)."""
    counts = {"provinces": 0, "districts": 0, "wards": 0, "vaccinations": 0}
    for n, row in enumerate(rows, start=1):
        for name in REQUIRED_COLUMNS:
            if not (row.get(name) or "").strip():
                raise InvalidInput(f"row {n}: {name}", "is required")
        pcode, dcode, wcode = (
            row[k].strip() for k in ("province_code", "district_code", "ward_code")
        )
        counts["provinces"] += _province(session, row, n, pcode)
        counts["districts"] += _district(session, row, n, dcode, pcode)
        counts["wards"] += _ward(session, row, n, wcode, dcode)
        session.flush()
        # The ward is also the 2021 unit the picker offers; its centre is an estimate unless
        # the row says centre_approximate=no (a surveyed point).
        exact = (row.get("centre_approximate") or "").strip().lower() in ("no", "false", "0")
        ward = session.get(Ward, wcode)
        assert ward is not None  # _ward has just written it
        units.sync_ward(session, ward, approximate=not exact)
        counts["vaccinations"] += _vaccination(session, row, n, wcode)
    session.flush()
    return counts


def load_sample(session: Session) -> dict[str, int]:
    return import_areas(session, read_areas_csv(SAMPLE_CSV.read_text(encoding="utf-8")))
