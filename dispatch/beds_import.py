"""Bed counts from a spreadsheet: one CSV, a row per hospital and bed type, all rows or none.

For a city whose hospitals still report on spreadsheets. Each row goes through the same versioned
update as the JSON and FHIR routes (so a stale row is refused like a stale report); every bad row
is reported by line and column, and if any is bad, nothing is stored. An administrator sends the
file to `POST /api/v1/beds/import` or runs `hotline beds import FILE`.
"""

from __future__ import annotations

import argparse
import csv
import io
import sys
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request
from pydantic import BaseModel
from sqlalchemy import select
from sqlalchemy.orm import Session

from dispatch import beds
from dispatch.models import Hospital
from dispatch.vocab import BedType
from kernel.accounts import Principal, Role
from kernel.deps import SessionDep, require_roles
from kernel.errors import DomainError, InvalidInput

COLUMNS = ("hospital", "bed_type", "total", "occupied", "out_of_service", "as_of")
REQUIRED = ("hospital", "bed_type", "total", "occupied", "as_of")
MAX_BYTES = 5 * 1024 * 1024
MAX_ROWS = 20_000


@dataclass(frozen=True)
class RowError:
    line: int
    column: str
    rule: str

    def as_dict(self) -> dict[str, Any]:
        return {"line": self.line, "column": self.column, "rule": self.rule}

    def __str__(self) -> str:
        return f"line {self.line}, column {self.column}: {self.rule}"


class CsvRefused(DomainError):
    status_code = 422
    code = "invalid_csv"

    def __init__(self, errors: list[RowError]):
        super().__init__([e.as_dict() for e in errors])
        self.errors = errors


@dataclass
class Row:
    line: int
    hospital_id: str
    counts: beds.BedCounts
    as_of: datetime


def _hospital_index(session: Session) -> tuple[set[str], dict[str, list[str]]]:
    ids: set[str] = set()
    by_name: dict[str, list[str]] = {}
    for hid, name in session.execute(select(Hospital.id, Hospital.name)):
        ids.add(hid)
        by_name.setdefault(name.strip().casefold(), []).append(hid)
    return ids, by_name


def _count(raw: str | None, column: str, line: int, errors: list[RowError]) -> int:
    text = (raw or "").strip()
    if column == "out_of_service" and text == "":
        return 0
    if not text.isdigit():
        errors.append(RowError(line, column, "must be a whole number, 0 or more"))
        return 0
    return int(text)


def parse(session: Session, text: str) -> tuple[list[Row], list[RowError]]:
    """The rows of the file, and every problem a row has on its own (line 1 is the header)."""
    reader = csv.DictReader(io.StringIO(text.lstrip("\ufeff")))
    header = [h.strip() for h in reader.fieldnames or []]
    missing = [c for c in REQUIRED if c not in header]
    if missing:
        return [], [RowError(1, c, "column missing from the header") for c in missing]
    reader.fieldnames = header
    ids, by_name = _hospital_index(session)
    rows: list[Row] = []
    errors: list[RowError] = []
    for n, record in enumerate(reader):
        line = reader.line_num
        if n >= MAX_ROWS:
            errors.append(RowError(line, "hospital", f"at most {MAX_ROWS} rows in one file"))
            break
        if not any((v or "").strip() for v in record.values() if isinstance(v, str)):
            continue  # a blank line
        bad = len(errors)
        who = (record.get("hospital") or "").strip()
        hospital_id = who if who in ids else None
        if hospital_id is None:
            named = by_name.get(who.casefold(), [])
            if len(named) == 1:
                hospital_id = named[0]
            else:
                rule = (
                    "several hospitals have this name: use the id"
                    if named
                    else "no hospital with this id or name"
                )
                errors.append(RowError(line, "hospital", rule))
        bed_type = (record.get("bed_type") or "").strip()
        if bed_type not in set(BedType):
            errors.append(RowError(line, "bed_type", f"must be one of {', '.join(BedType)}"))
        counts = [
            _count(record.get(c), c, line, errors) for c in ("total", "occupied", "out_of_service")
        ]
        as_of: datetime | None = None
        try:
            as_of = datetime.fromisoformat((record.get("as_of") or "").strip())
        except ValueError:
            errors.append(RowError(line, "as_of", "must be a time like 2021-08-01T08:00:00+07:00"))
        if as_of is not None and as_of.tzinfo is None:
            errors.append(RowError(line, "as_of", "must carry a time zone (e.g. +07:00)"))
        if len(errors) == bad and hospital_id is not None and as_of is not None:
            rows.append(
                Row(
                    line,
                    hospital_id,
                    beds.BedCounts(bed_type, counts[0], counts[1], counts[2]),
                    as_of,
                )
            )
    return rows, errors


def apply(session: Session, rows: list[Row], *, actor: str) -> list[RowError]:
    """Each row through the shared versioned update, each in a savepoint so every bad row is found."""
    errors: list[RowError] = []
    # In the lock order of bed pools (beds.write_together); rows of one pool keep file order.
    for row in sorted(rows, key=lambda r: (r.hospital_id, r.counts.bed_type)):
        try:
            with session.begin_nested():
                beds.update_beds(
                    session,
                    hospital_id=row.hospital_id,
                    counts=[row.counts],
                    as_of=row.as_of,
                    actor=actor,
                )
        except InvalidInput as exc:
            column = exc.field if exc.field in COLUMNS else "as_of"
            errors.append(RowError(row.line, column, exc.rule))
        except DomainError as exc:
            column = "as_of" if exc.code == "stale_update" else "total"
            errors.append(RowError(row.line, column, str(exc.detail)))
    return sorted(errors, key=lambda e: e.line)


def import_beds(session: Session, text: str, *, actor: str) -> list[Row]:
    """Store every row or none: CsvRefused lists every bad row; the caller's transaction rolls back."""
    rows, errors = parse(session, text)
    # The rows that read well still go through the update, so their refusals are listed too.
    errors += apply(session, rows, actor=actor)
    if errors:
        raise CsvRefused(sorted(errors, key=lambda e: (e.line, COLUMNS.index(e.column))))
    if not rows:
        raise CsvRefused([RowError(2, "hospital", "the file has no rows")])
    return rows


# --------------------------------------------------------------------------- HTTP


class ImportOut(BaseModel):
    rows: int
    hospitals: int


async def csv_text(request: Request) -> str:
    """The CSV, sent as the body (text/csv) or as the one file of a multipart form."""
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > MAX_BYTES:
        raise InvalidInput("file", f"must be at most {MAX_BYTES} bytes")
    content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if content_type == "multipart/form-data":
        form = await request.form(max_files=1, max_fields=5)
        uploads = [v for v in form.values() if not isinstance(v, str)]
        if not uploads:
            raise InvalidInput("file", "send the CSV as a file field of the form")
        data = await uploads[0].read(MAX_BYTES + 1)
    elif content_type in ("text/csv", "text/plain", "application/csv"):
        data = b""
        async for chunk in request.stream():
            data += chunk
            if len(data) > MAX_BYTES:
                break
    else:
        raise InvalidInput("content-type", "send text/csv or a multipart form with the file")
    if len(data) > MAX_BYTES:
        raise InvalidInput("file", f"must be at most {MAX_BYTES} bytes")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        raise InvalidInput("file", "must be UTF-8 text") from None


router = APIRouter(prefix="/api/v1", tags=["dispatch"])


@router.post(
    "/beds/import",
    response_model=ImportOut,
    responses={422: {"description": "every bad row, by line and column; nothing stored"}},
)
def import_route(
    session: SessionDep,
    admin: Annotated[Principal, Depends(require_roles(Role.ADMIN))],
    text: Annotated[str, Depends(csv_text)],
) -> ImportOut:
    """Bed counts of many hospitals from one CSV (columns: hospital, bed_type, total, occupied,
    out_of_service, as_of); all rows or none."""
    rows = import_beds(session, text, actor=admin.actor)
    return ImportOut(rows=len(rows), hospitals=len({r.hospital_id for r in rows}))


# --------------------------------------------------------------------------- CLI


def cmd_import(args: argparse.Namespace) -> int:
    from kernel.db import unit_of_work

    try:
        text = Path(args.file).read_text(encoding="utf-8")
        with unit_of_work() as session:
            n = len(import_beds(session, text, actor="cli:beds-import"))
    except CsvRefused as exc:
        for error in exc.errors:
            print(f"{args.file}: {error}", file=sys.stderr)
        print(f"{len(exc.errors)} bad row(s); nothing imported", file=sys.stderr)
        return 2
    except (OSError, UnicodeDecodeError) as exc:
        print(f"error: {exc}; nothing imported", file=sys.stderr)
        return 2
    print(f"imported {n} row(s) of bed counts", flush=True)
    return 0


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    b = sub.add_parser("beds", help="bed counts (dispatch)")
    bsub = b.add_subparsers(dest="beds_command", required=True)
    imp = bsub.add_parser("import", help="import bed counts from a CSV file, all rows or none")
    imp.add_argument("file", help=f"CSV with columns {', '.join(COLUMNS)} (hospital: id or name)")
    imp.set_defaults(func=cmd_import)
