"""`hotline hospitals import FILE`: load hospitals from a CSV, all rows or none."""

from __future__ import annotations

import argparse
import csv
import sys
from pathlib import Path
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from dispatch import hospitals
from dispatch.models import Hospital
from dispatch.vocab import FacilityStatus
from kernel.errors import DomainError, InvalidInput

COLUMNS = ("name", "tier", "district", "ward", "lat", "lon", "capabilities", "status", "contacts")


def import_hospitals(
    session: Session, rows: list[dict[str, str]], *, actor: str
) -> tuple[int, int]:
    """Create the hospitals not already known by name; returns (created, skipped).

    Raises DomainError naming the line and field of the first bad row; the caller rolls back.
    """
    known = set(session.scalars(select(Hospital.name)))
    created = skipped = 0
    for line, row in enumerate(rows, start=2):  # line 1 is the header
        name = (row.get("name") or "").strip()
        if name in known:
            skipped += 1
            continue
        try:
            tier = int(row.get("tier") or "")
            lat, lon = float(row.get("lat") or ""), float(row.get("lon") or "")
        except ValueError as exc:
            raise DomainError(f"line {line}: tier, lat and lon must be numbers ({exc})") from None
        caps = [c.strip() for c in (row.get("capabilities") or "").split(";") if c.strip()]
        try:
            hospitals.create_hospital(
                session,
                name=name,
                tier=tier,
                lat=lat,
                lon=lon,
                district=(row.get("district") or "").strip(),
                ward=(row.get("ward") or "").strip(),
                capabilities=caps,
                status=(row.get("status") or "").strip() or FacilityStatus.OPEN,
                contacts=(row.get("contacts") or "").strip(),
                actor=actor,
            )
        except InvalidInput as exc:
            raise DomainError(f"line {line}: {exc.field} {exc.rule}") from None
        except DomainError as exc:
            raise DomainError(f"line {line}: {exc.detail}") from None
        known.add(name)
        created += 1
    return created, skipped


def read_csv(path: Path) -> list[dict[str, str]]:
    with path.open(newline="", encoding="utf-8-sig") as f:
        reader = csv.DictReader(f)
        missing = [c for c in ("name", "tier", "lat", "lon") if c not in (reader.fieldnames or [])]
        if missing:
            raise DomainError(f"{path}: missing column(s) {', '.join(missing)}")
        return list(reader)


def cmd_import(args: argparse.Namespace) -> int:
    from kernel.db import unit_of_work

    try:
        rows = read_csv(Path(args.file))
        with unit_of_work() as session:
            created, skipped = import_hospitals(session, rows, actor="cli:hospitals-import")
    except (DomainError, OSError) as exc:
        detail: Any = exc.detail if isinstance(exc, DomainError) else exc
        print(f"error: {detail}; nothing imported", file=sys.stderr)
        return 2
    print(f"imported {created} hospital(s); {skipped} already known by name", flush=True)
    return 0


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    h = sub.add_parser("hospitals", help="manage hospitals (dispatch)")
    hsub = h.add_subparsers(dest="hospitals_command", required=True)
    imp = hsub.add_parser("import", help="import hospitals from a CSV file")
    imp.add_argument(
        "file", help=f"CSV with columns {', '.join(COLUMNS)} (capabilities ;-separated)"
    )
    imp.set_defaults(func=cmd_import)
    from dispatch import beds_import

    beds_import.register(sub)
