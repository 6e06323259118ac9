"""FHIR R4B resources in and out, through the `fhir.resources` models (never hand-built dicts).

In: a bed-capacity MeasureReport becomes the same `BedCounts` the JSON routes build, with each
count remembering the element it came from, so a refusal names that element. Out: hospitals as
Locations, their pools as a MeasureReport, lists as searchset Bundles, the code system and what
we serve (a CapabilityStatement).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from typing import Any

from fhir.resources.R4B.bundle import Bundle
from fhir.resources.R4B.capabilitystatement import CapabilityStatement
from fhir.resources.R4B.codesystem import CodeSystem
from fhir.resources.R4B.location import Location
from fhir.resources.R4B.measurereport import MeasureReport
from fhir.resources.R4B.operationoutcome import OperationOutcome
from fhir.resources.R4B.resource import Resource
from pydantic import ValidationError

from dispatch.beds import BedCounts
from dispatch.fhir import codes
from dispatch.models import BedPool, Hospital
from dispatch.vocab import BedType, FacilityStatus

FHIR_VERSION = "4.3.0"  # R4B
MEDIA_TYPE = "application/fhir+json"


class FhirProblem(Exception):
    """A request we refuse: its HTTP status and the OperationOutcome issues that say why."""

    def __init__(self, status: int, code: str, expression: str | None, diagnostics: str):
        super().__init__(diagnostics)
        self.status = status
        self.issues = [(code, expression, diagnostics)]


def outcome(issues: list[tuple[str, str | None, str]], severity: str = "error") -> OperationOutcome:
    return OperationOutcome.model_validate(
        dict(
            issue=[
                {
                    "severity": severity,
                    "code": code,
                    "diagnostics": diagnostics,
                    **({"expression": [expression]} if expression else {}),
                }
                for code, expression, diagnostics in issues
            ]
        )
    )


def dump(resource: Resource) -> bytes:
    return resource.model_dump_json(exclude_none=True).encode()


# --------------------------------------------------------------------------- in


@dataclass
class BedReport:
    """A parsed report: whose, as of when, and the counts with the element each came from."""

    hospital_id: str | None
    as_of: datetime
    counts: list[BedCounts]
    # pools.{i}.{count name} -> FHIRPath of the element, for refusals.
    elements: dict[str, str] = field(default_factory=dict)
    time_element: str = "MeasureReport.period.end"
    group_of: dict[str, str] = field(default_factory=dict)

    def element_for(self, field_name: str) -> str:
        if field_name == "as_of":
            return self.time_element
        return self.elements.get(field_name, "MeasureReport.group")


def _path(loc: tuple[Any, ...]) -> str:
    out = "MeasureReport"
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else f".{part}"
    return out


def _strict_counts(node: Any, loc: tuple[Any, ...] = ()) -> None:
    """FHIR JSON writes an integer as a number: "5" or 5.0 for a count is refused, not coerced."""
    if isinstance(node, dict):
        for key, value in node.items():
            if key == "count" and (isinstance(value, bool) or not isinstance(value, int)):
                raise FhirProblem(
                    400, "structure", _path((*loc, key)), "count must be a JSON integer, 0 or more"
                )
            _strict_counts(value, (*loc, key))
    elif isinstance(node, list):
        for i, item in enumerate(node):
            _strict_counts(item, (*loc, i))


def parse_measure_report(body: bytes) -> MeasureReport:
    """The report as the FHIR model reads it; FhirProblem (400) naming the element otherwise."""
    try:
        raw = json.loads(body)
    except (UnicodeDecodeError, ValueError):
        raise FhirProblem(
            400, "structure", None, "the body is not JSON (send application/fhir+json)"
        ) from None
    if not isinstance(raw, dict):
        raise FhirProblem(400, "structure", None, "the body must be one JSON object, a resource")
    if raw.get("resourceType") != "MeasureReport":
        raise FhirProblem(
            400,
            "structure",
            "resourceType",
            f"must be MeasureReport, not {str(raw.get('resourceType'))[:40]!r}",
        )
    _strict_counts(raw)
    try:
        return MeasureReport.model_validate(raw)
    except ValidationError as exc:
        problems: list[tuple[str, str | None, str]] = [
            ("structure", _path(tuple(e["loc"])), e["msg"].split("\n")[0].strip())
            for e in exc.errors()[:20]
        ]
        problem = FhirProblem(400, *problems[0])
        problem.issues = problems
        raise problem from None


def _coded(concept: Any, wanted: dict[str, Any]) -> tuple[Any, str] | None:
    """The first of a CodeableConcept's codings in our code system: (meaning, code)."""
    for coding in (concept.coding if concept else None) or []:
        if coding.system == codes.SYSTEM and coding.code in wanted:
            return wanted[coding.code], coding.code
    return None


def _subject(report: MeasureReport) -> str | None:
    if report.subject is None:
        return None
    ref = report.subject.reference or ""
    tail = ref.rsplit("/", 2)[-2:]
    if len(tail) != 2 or tail[0] != "Location" or not tail[1]:
        raise FhirProblem(
            422,
            "value",
            "MeasureReport.subject.reference",
            "must be Location/{hospital id} (the hospital the beds are in)",
        )
    return tail[1]


def _as_of(report: MeasureReport) -> tuple[datetime, str]:
    end = report.period.end if report.period else None
    value, element = (
        (end, "MeasureReport.period.end")
        if end is not None
        else (report.date, "MeasureReport.date")
    )
    if value is None:
        raise FhirProblem(
            422, "required", "MeasureReport.period.end", "the time of the counts is required"
        )
    if not isinstance(value, datetime) or value.tzinfo is None:
        kind = "a date" if isinstance(value, date) and not isinstance(value, datetime) else "it"
        raise FhirProblem(422, "value", element, f"{kind} must carry a time of day and a time zone")
    return value, element


def _counts(
    bed_type: BedType,
    populations: list[Any],
    where: str,
    index: int,
    report: BedReport,
) -> BedCounts:
    found: dict[str, int] = {}
    for j, pop in enumerate(populations):
        element = f"{where}.population[{j}]"
        hit = _coded(pop.code, codes.COUNT_BY_CODE)
        if hit is None:
            raise FhirProblem(
                422,
                "code-invalid",
                f"{element}.code",
                f"must be a count code of {codes.SYSTEM}: "
                + ", ".join(codes.COUNT_CONCEPTS[c].code for c in codes.REPORTED_COUNTS),
            )
        name = hit[0]
        if name not in codes.REPORTED_COUNTS:
            raise FhirProblem(
                422, "business-rule", f"{element}.code", f"{hit[1]} is computed here, not reported"
            )
        if name in found:
            raise FhirProblem(422, "business-rule", f"{element}.code", f"{hit[1]} appears twice")
        if pop.count is None:
            raise FhirProblem(422, "required", f"{element}.count", "the count is required")
        found[name] = pop.count
        report.elements[f"pools.{index}.{name}"] = f"{element}.count"
    for name in (codes.TOTAL, codes.OCCUPIED):
        if name not in found:
            raise FhirProblem(
                422,
                "required",
                f"{where}.population",
                f"a population coded {codes.COUNT_CONCEPTS[name].code} is required",
            )
    report.elements[f"pools.{index}.bed_type"] = f"{where}.code"
    report.group_of[bed_type.value] = where
    return BedCounts(
        bed_type=bed_type.value,
        total=found[codes.TOTAL],
        occupied=found[codes.OCCUPIED],
        out_of_service=found.get(codes.OUT_OF_SERVICE, 0),
    )


def _bed_type(concept: Any, element: str) -> BedType:
    hit = _coded(concept, codes.BED_TYPE_BY_CODE)
    if hit is None:
        raise FhirProblem(
            422,
            "code-invalid",
            element,
            f"must be a bed type code of {codes.SYSTEM}: "
            + ", ".join(c.code for c in codes.BED_TYPE_CONCEPTS.values()),
        )
    bed_type: BedType = hit[0]
    return bed_type


def bed_report(report: MeasureReport) -> BedReport:
    """The counts a capacity report carries, per bed type, as groups or as one group's strata."""
    if report.status != "complete":
        raise FhirProblem(
            422, "business-rule", "MeasureReport.status", "only a complete report updates beds"
        )
    as_of, time_element = _as_of(report)
    out = BedReport(_subject(report), as_of, [], time_element=time_element)
    for g, group in enumerate(report.group or []):
        where = f"MeasureReport.group[{g}]"
        if group.stratifier:
            for s, stratifier in enumerate(group.stratifier):
                for t, stratum in enumerate(stratifier.stratum or []):
                    at = f"{where}.stratifier[{s}].stratum[{t}]"
                    bed_type = _bed_type(stratum.value, f"{at}.value")
                    out.counts.append(
                        _counts(bed_type, stratum.population or [], at, len(out.counts), out)
                    )
            continue
        bed_type = _bed_type(group.code, f"{where}.code")
        out.counts.append(_counts(bed_type, group.population or [], where, len(out.counts), out))
    if not out.counts:
        raise FhirProblem(
            422, "required", "MeasureReport.group", "at least one bed type's counts are required"
        )
    seen: set[str] = set()
    for c in out.counts:
        if c.bed_type in seen:
            raise FhirProblem(
                422,
                "business-rule",
                out.group_of[c.bed_type],
                f"{c.bed_type} is reported twice",
            )
        seen.add(c.bed_type)
    return out


# --------------------------------------------------------------------------- out


def _coding(concept: codes.Concept) -> dict[str, str]:
    return {"system": codes.SYSTEM, "code": concept.code, "display": concept.en}


def _concept(concept: codes.Concept) -> dict[str, Any]:
    return {"coding": [_coding(concept)], "text": concept.vi}


def _iso(t: datetime) -> datetime:
    return t if t.tzinfo else t.replace(tzinfo=UTC)


def location(hospital: Hospital) -> Location:
    status = FacilityStatus(hospital.status)
    concept = codes.STATUS_CONCEPTS[status]
    description = f"{concept.vi} / {concept.en}"
    if hospital.status_reason:
        description += f": {hospital.status_reason}"
    if hospital.status_until:
        description += f" (đến / until {_iso(hospital.status_until).isoformat()})"
    return Location.model_validate(
        dict(
            id=hospital.id,
            name=hospital.name,
            status="suspended" if status is FacilityStatus.CLOSED else "active",
            operationalStatus=_coding(concept),
            description=description,
            mode="instance",
            type=[
                {
                    "coding": [
                        {
                            "system": "http://terminology.hl7.org/CodeSystem/v3-RoleCode",
                            "code": "HOSP",
                            "display": "Hospital",
                        }
                    ],
                    "text": f"Bệnh viện tầng {hospital.tier} / Tier {hospital.tier} hospital",
                }
            ],
            address={
                "use": "work",
                "text": ", ".join(
                    p for p in (hospital.ward, hospital.district, "TP. Hồ Chí Minh") if p
                ),
                "district": hospital.district or None,
                "city": "TP. Hồ Chí Minh",
                "country": "VN",
            },
            position={"latitude": hospital.lat, "longitude": hospital.lon},
            telecom=[{"system": "other", "value": hospital.contacts}]
            if hospital.contacts
            else None,
        )
    )


def capacity_report(hospital: Hospital, pools: list[BedPool], now: datetime) -> MeasureReport:
    """The current counts of a hospital's pools; the period runs from the oldest count to the newest."""
    dated = [_iso(p.as_of) for p in pools if p.as_of is not None]
    start, end = (min(dated), max(dated)) if dated else (_iso(now), _iso(now))
    groups = []
    for p in pools:
        figures = {
            codes.TOTAL: p.total,
            codes.OCCUPIED: p.occupied,
            codes.OUT_OF_SERVICE: p.out_of_service,
            codes.HELD: p.held,
            codes.AVAILABLE: max(p.available, 0),
        }
        groups.append(
            {
                "id": p.bed_type,
                "code": _concept(codes.BED_TYPE_CONCEPTS[BedType(p.bed_type)]),
                "population": [
                    {"code": _concept(codes.COUNT_CONCEPTS[name]), "count": count}
                    for name, count in figures.items()
                ],
            }
        )
    return MeasureReport.model_validate(
        dict(
            id=f"capacity-{hospital.id}",
            status="complete",
            type="summary",
            measure=codes.MEASURE,
            subject={"reference": f"Location/{hospital.id}", "display": hospital.name},
            date=_iso(now),
            period={"start": start, "end": end},
            group=groups or None,
        )
    )


def searchset(resources: list[Resource], base: str) -> Bundle:
    return Bundle.model_validate(
        dict(
            type="searchset",
            total=len(resources),
            entry=[
                {
                    "fullUrl": f"{base}/{r.get_resource_type()}/{r.id}",
                    "resource": r,
                    "search": {"mode": "match"},
                }
                for r in resources
            ]
            or None,
        )
    )


def _concepts(group: dict[Any, codes.Concept]) -> list[dict[str, Any]]:
    return [
        {
            "code": c.code,
            "display": c.en,
            "definition": c.definition,
            "designation": [{"language": "vi", "value": c.vi}],
            "property": [
                {"code": "hotline-meaning", "valueString": c.ours},
                {"code": "source", "valueString": c.source},
            ],
        }
        for c in group.values()
    ]


def code_system(now: datetime) -> CodeSystem:
    concepts = [
        *_concepts(codes.BED_TYPE_CONCEPTS),
        *_concepts(codes.COUNT_CONCEPTS),
        *_concepts(codes.STATUS_CONCEPTS),
    ]
    return CodeSystem.model_validate(
        dict(
            id=codes.CODE_SYSTEM_ID,
            url=codes.SYSTEM,
            name="HotlineBedCapacity",
            title="Công suất giường bệnh / Bed capacity",
            status="active",
            date=_iso(now),
            publisher="hotline1022",
            description=(
                "Bed types, counts and facility statuses of bed-capacity MeasureReports "
                "and Locations. Codes follow SANER/SAFR where they exist."
            ),
            caseSensitive=True,
            content="complete",
            count=len(concepts),
            property=[
                {"code": "hotline-meaning", "type": "string", "description": "what it is here"},
                {"code": "source", "type": "string", "description": "where the code comes from"},
            ],
            concept=concepts,
        )
    )


def capability_statement(now: datetime) -> CapabilityStatement:
    return CapabilityStatement.model_validate(
        dict(
            status="active",
            date=_iso(now),
            kind="instance",
            fhirVersion=FHIR_VERSION,
            format=["json"],
            implementation={"description": "hotline1022 bed capacity"},
            rest=[
                {
                    "mode": "server",
                    "security": {
                        "description": (
                            "X-Api-Key: the hospital's API key, or Authorization: Bearer "
                            "with a signed-in account; a hospital reads and writes its own only"
                        )
                    },
                    "resource": [
                        {
                            "type": "MeasureReport",
                            "interaction": [{"code": "create"}, {"code": "search-type"}],
                            "searchParam": [{"name": "subject", "type": "reference"}],
                        },
                        {
                            "type": "Location",
                            "interaction": [{"code": "read"}, {"code": "search-type"}],
                            "searchParam": [{"name": "near", "type": "special"}],
                        },
                        {"type": "CodeSystem", "interaction": [{"code": "read"}]},
                    ],
                }
            ],
        )
    )
