"""Triage's own `hotline` commands: `hotline areas import FILE`, `hotline areas levels` and
`hotline areas import-units --scheme 2021|2025`."""

from __future__ import annotations

import argparse
from pathlib import Path


def cmd_areas_import(args: argparse.Namespace) -> int:
    from kernel.db import unit_of_work
    from triage.areas import csv_import, levels

    path = Path(args.file) if args.file else csv_import.SAMPLE_CSV
    with unit_of_work() as session:
        counts = csv_import.import_areas(
            session, csv_import.read_areas_csv(path.read_text(encoding="utf-8"))
        )
        if not args.no_recompute:
            counts |= levels.recompute_levels(session)
    print(", ".join(f"{k}: {v}" for k, v in counts.items()))
    return 0


def cmd_areas_levels(_: argparse.Namespace) -> int:
    from kernel.db import unit_of_work
    from triage.areas import levels

    with unit_of_work() as session:
        levels.recompute_levels(session)
        for v in levels.current_levels(session):
            print(f"{v['ward_code']}\t{v['district_name']}\t{v['ward_name']}\tlevel {v['level']}")
    return 0


def cmd_areas_import_units(args: argparse.Namespace) -> int:
    import sys

    from kernel.db import unit_of_work
    from kernel.errors import InvalidInput
    from triage.areas import units

    try:
        with unit_of_work() as session:
            counts = units.import_units(session, args.scheme, args.province)
    except InvalidInput as exc:
        print(f"error: {exc.field}: {exc.rule}", file=sys.stderr)
        return 2
    print(f"scheme {args.scheme}: {counts['units']} units, {counts['created']} new")
    return 0


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    a = sub.add_parser("areas", help="provinces, districts, wards and epidemic levels (triage)")
    asub = a.add_subparsers(dest="areas_command", required=True)
    imp = asub.add_parser("import", help="import areas from a CSV (default: the HCMC demo sample)")
    imp.add_argument("file", nargs="?", help="CSV like triage/data/hcmc_wards_sample.csv")
    imp.add_argument("--no-recompute", action="store_true", help="do not recompute levels")
    imp.set_defaults(func=cmd_areas_import)
    lv = asub.add_parser("levels", help="recompute and print every ward's epidemic level")
    lv.set_defaults(func=cmd_areas_levels)
    iu = asub.add_parser(
        "import-units",
        help="load official administrative units: 2025 (province/commune, from the "
        "vietnam-provinces package) or 2021 (province/district/ward, our HCMC list)",
    )
    iu.add_argument("--scheme", required=True, choices=("2021", "2025"))
    iu.add_argument("--province", help="only this province's units (a code such as 79)")
    iu.set_defaults(func=cmd_areas_import_units)
