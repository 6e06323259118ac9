"""The FHIR R4B endpoint under /fhir: bed-capacity reports in, hospitals and their capacity out.

Every refusal here is an OperationOutcome with a 4xx, whatever was sent: the route class below
turns each error a handler or a dependency raises (no key, another hospital, a stale report, a
malformed body) into one. A report goes through the same `update_beds` as the JSON routes.
"""

from __future__ import annotations

import html
from collections.abc import Callable, Coroutine
from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse, Response
from fastapi.routing import APIRoute
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.requests import ClientDisconnect

from dispatch import access, beds, holds
from dispatch.fhir import codes
from dispatch.fhir.resources import (
    MEDIA_TYPE,
    BedReport,
    FhirProblem,
    bed_report,
    capability_statement,
    capacity_report,
    code_system,
    dump,
    location,
    outcome,
    parse_measure_report,
    searchset,
)
from dispatch.geo import haversine_km
from dispatch.hospitals import get_hospital
from kernel import input_guard
from kernel.accounts import Principal
from kernel.db import utcnow
from kernel.deps import CurrentPrincipal, SessionDep
from kernel.errors import Conflict, DomainError, InvalidInput, NotFound

# A capacity report of every bed type is a few kilobytes; anything this big is not one.
MAX_BODY = 256 * 1024
ISSUE_CODE = {
    400: "invalid",
    401: "login",
    403: "forbidden",
    404: "not-found",
    405: "not-supported",
    409: "conflict",
    413: "too-long",
    415: "not-supported",
    422: "business-rule",
}


class FhirResponse(Response):
    media_type = MEDIA_TYPE


def problem_response(exc: Exception) -> Response | None:
    """The OperationOutcome for an error, or None for one that is not the caller's (a 503, a bug)."""
    headers: dict[str, str] = {}
    if isinstance(exc, FhirProblem):
        status, issues = exc.status, exc.issues
    elif isinstance(exc, DomainError):
        status = exc.status_code
        if isinstance(exc, InvalidInput):
            issues = [(ISSUE_CODE[422], exc.field, exc.rule)]
        else:
            issues = [(ISSUE_CODE.get(status, "processing"), None, str(exc.detail))]
        if status == 401:
            headers["WWW-Authenticate"] = "Bearer"
    elif isinstance(exc, RequestValidationError):
        status = 400
        issues = [
            ("invalid", ".".join(str(p) for p in e.get("loc", ())[1:]) or None, e.get("msg", ""))
            for e in exc.errors()
        ]
    elif isinstance(exc, StarletteHTTPException) and exc.status_code < 500:
        status = exc.status_code
        issues = [(ISSUE_CODE.get(status, "processing"), None, str(exc.detail))]
    else:
        return None
    return FhirResponse(dump(outcome(issues)), status_code=status, headers=headers)


class FhirRoute(APIRoute):
    """Errors raised by the handler or its dependencies come back as OperationOutcomes."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()

        async def fhir_handler(request: Request) -> Response:
            try:
                return await handler(request)
            except Exception as exc:
                response = problem_response(exc)
                if response is None:
                    raise
                return response

        return fhir_handler


router = APIRouter(prefix="/fhir", tags=["fhir"], route_class=FhirRoute)


def _unsafe_text(field: str, location: str, rule: str) -> tuple[bytes, str]:
    """Unsafe text in a FHIR request is refused (kernel/input_guard.py) as an OperationOutcome."""
    return dump(outcome([("invalid", field, f"{location}: {rule}")])), MEDIA_TYPE


input_guard.refuse_with("/fhir/", _unsafe_text)
FHIR_OK: dict[int | str, dict[str, Any]] = {
    200: {"content": {MEDIA_TYPE: {}}, "description": "a FHIR resource"}
}
REFUSALS: dict[int | str, dict[str, Any]] = {
    code: {"content": {MEDIA_TYPE: {}}, "description": "an OperationOutcome saying why"}
    for code in (400, 401, 403, 404, 409, 413, 415, 422)
}


async def report_body(request: Request) -> bytes:
    """The posted resource, refused before parsing if it is not FHIR JSON or is too big."""
    content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if content_type not in (MEDIA_TYPE, "application/json"):
        raise FhirProblem(
            415,
            "not-supported",
            None,
            f"send {MEDIA_TYPE} (XML is not served here), not {content_type or 'no content type'}",
        )
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > MAX_BODY:
        raise FhirProblem(413, "too-long", None, f"a report must be at most {MAX_BODY} bytes")
    body = bytearray()
    try:
        async for chunk in request.stream():
            body += chunk
            if len(body) > MAX_BODY:
                raise FhirProblem(
                    413, "too-long", None, f"a report must be at most {MAX_BODY} bytes"
                )
    except ClientDisconnect:
        raise FhirProblem(400, "incomplete", None, "the body was cut off") from None
    return bytes(body)


def _refused(exc: DomainError, report: BedReport) -> FhirProblem:
    """A refusal of the shared update path, pointed at the element of the report it concerns."""
    if isinstance(exc, InvalidInput):
        return FhirProblem(422, "business-rule", report.element_for(exc.field), exc.rule)
    if isinstance(exc, Conflict):
        bed_type = str(exc.detail).split(":", 1)[0]
        element = report.group_of.get(bed_type, "MeasureReport.group")
        if exc.code == "stale_update":
            element = report.time_element
        return FhirProblem(409, "conflict", element, str(exc.detail))
    if isinstance(exc, NotFound):
        return FhirProblem(404, "not-found", "MeasureReport.subject", "no such hospital")
    return FhirProblem(
        exc.status_code, ISSUE_CODE.get(exc.status_code, "processing"), None, str(exc.detail)
    )


@router.post(
    "/MeasureReport",
    status_code=201,
    response_class=FhirResponse,
    responses={201: {"content": {MEDIA_TYPE: {}}, "description": "the capacity now"}, **REFUSALS},
)
def post_measure_report(
    session: SessionDep,
    principal: CurrentPrincipal,
    body: Annotated[bytes, Depends(report_body)],
) -> Response:
    """A bed-capacity report: its counts replace the pools' through the JSON routes' update."""
    report = bed_report(parse_measure_report(body))
    hospital_id = report.hospital_id or principal.hospital_id
    if hospital_id is None:
        raise FhirProblem(
            422,
            "required",
            "MeasureReport.subject",
            "name the hospital: subject = Location/{hospital id}",
        )
    access.ensure_bed_writer(principal, hospital_id)
    try:
        beds.update_beds(
            session,
            hospital_id=hospital_id,
            counts=report.counts,
            as_of=report.as_of,
            actor=principal.actor,
            field_prefix=True,
        )
    except DomainError as exc:
        raise _refused(exc, report) from None
    hospital = get_hospital(session, hospital_id)
    now = utcnow()
    current = capacity_report(hospital, beds.hospital_pools(session, hospital_id), now)
    return FhirResponse(dump(current), status_code=201)


def _subject_id(subject: str | None, principal: Principal) -> str:
    if subject is None:
        if principal.hospital_id:
            return principal.hospital_id
        raise FhirProblem(400, "required", "subject", "search by subject=Location/{hospital id}")
    parts = subject.rsplit("/", 2)[-2:]
    if len(parts) == 1:
        return parts[0]
    if parts[0] != "Location" or not parts[1]:
        raise FhirProblem(400, "value", "subject", "must be Location/{hospital id}")
    return parts[1]


@router.get("/MeasureReport", response_class=FhirResponse, responses={**FHIR_OK, **REFUSALS})
def search_measure_reports(
    session: SessionDep,
    principal: CurrentPrincipal,
    request: Request,
    subject: str | None = None,
) -> Response:
    """The current capacity of a hospital (held beds and availability included) as a searchset."""
    hospital_id = _subject_id(subject, principal)
    access.ensure_hospital_access(principal, hospital_id)
    hospital = get_hospital(session, hospital_id)
    holds.expire_due_holds(session)
    report = capacity_report(hospital, beds.hospital_pools(session, hospital_id), utcnow())
    return FhirResponse(dump(searchset([report], _base(request))))


@router.get(
    "/Location/{hospital_id}", response_class=FhirResponse, responses={**FHIR_OK, **REFUSALS}
)
def read_location(session: SessionDep, principal: CurrentPrincipal, hospital_id: str) -> Response:
    access.ensure_hospital_access(principal, hospital_id)
    return FhirResponse(dump(location(get_hospital(session, hospital_id))))


def _near(near: str) -> tuple[float, float, float]:
    parts = near.split("|")
    try:
        lat, lon = float(parts[0]), float(parts[1])
        km = float(parts[2]) if len(parts) > 2 and parts[2] else 10.0
    except (ValueError, IndexError):
        raise FhirProblem(
            400, "value", "near", "must be latitude|longitude|distance|km, e.g. 10.77|106.70|5|km"
        ) from None
    if len(parts) > 4 or (len(parts) == 4 and parts[3] not in ("km", "")):
        raise FhirProblem(400, "value", "near", "the distance unit must be km")
    if not (-90 <= lat <= 90 and -180 <= lon <= 180 and 0 < km <= 1000):
        raise FhirProblem(
            400, "value", "near", "latitude -90..90, longitude -180..180, distance 0..1000 km"
        )
    return lat, lon, km


def _base(request: Request) -> str:
    return str(request.base_url).rstrip("/") + "/fhir"


@router.get("/Location", response_class=FhirResponse, responses={**FHIR_OK, **REFUSALS})
def search_locations(
    session: SessionDep,
    principal: CurrentPrincipal,
    request: Request,
    near: Annotated[str | None, Query(max_length=100)] = None,
) -> Response:
    """Hospitals a caller may see, nearest first when `near` is given (a hospital sees itself)."""
    found = access.hospitals_for(session, principal)
    if near is not None:
        lat, lon, km = _near(near)
        by_distance = sorted((haversine_km(lat, lon, h.lat, h.lon), h.name, h) for h in found)
        found = [h for d, _, h in by_distance if d <= km]
    return FhirResponse(dump(searchset([location(h) for h in found], _base(request))))


@router.get("/metadata", response_class=FhirResponse, responses=FHIR_OK)
def metadata() -> Response:
    """What this endpoint serves (public, as FHIR clients ask it before they sign in)."""
    return FhirResponse(dump(capability_statement(utcnow())))


def _wants_html(request: Request, fmt: str | None) -> bool:
    if fmt is not None:
        return fmt.lower() in ("html", "text/html")
    accept = request.headers.get("accept", "")
    return "text/html" in accept and MEDIA_TYPE not in accept


@router.get(
    f"/CodeSystem/{codes.CODE_SYSTEM_ID}",
    response_class=FhirResponse,
    responses={
        **FHIR_OK,
        200: {"content": {MEDIA_TYPE: {}, "text/html": {}}, "description": "the code system"},
    },
)
def read_code_system(
    request: Request, format_: Annotated[str | None, Query(alias="_format")] = None
) -> Response:
    """The bed-capacity code system: a page for people (a browser, or ?_format=html), JSON otherwise."""
    if _wants_html(request, format_):
        return HTMLResponse(code_system_page(utcnow()))
    return FhirResponse(dump(code_system(utcnow())))


KINDS = (
    ("Loại giường", "Bed types", codes.BED_TYPE_CONCEPTS),
    ("Số đếm", "Counts", codes.COUNT_CONCEPTS),
    ("Tình trạng cơ sở", "Facility status", codes.STATUS_CONCEPTS),
)


def code_system_page(now: datetime) -> str:
    e = html.escape
    sections = []
    for vi, en, group in KINDS:
        rows = "".join(
            f"<tr><td><code>{e(c.code)}</code></td><td lang='vi'>{e(c.vi)}</td>"
            f"<td lang='en'>{e(c.en)}<br><small>{e(c.definition)}</small></td>"
            f"<td>{'SANER / SAFR' if c.source == codes.SANER else 'Riêng / Ours'}</td></tr>"
            for c in group.values()
        )
        sections.append(
            f"<h2>{e(vi)} <small lang='en'>/ {e(en)}</small></h2>"
            "<table><thead><tr><th>Mã / Code</th><th>Ý nghĩa</th><th>Meaning</th>"
            f"<th>Nguồn / Source</th></tr></thead><tbody>{rows}</tbody></table>"
        )
    return (
        "<!doctype html><html lang='vi'><head><meta charset='utf-8'>"
        "<meta name='viewport' content='width=device-width, initial-scale=1'>"
        "<title>Bộ mã công suất giường bệnh / Bed capacity codes</title>"
        "<style>body{font:16px/1.5 system-ui,sans-serif;max-width:60rem;margin:2rem auto;"
        "padding:0 1rem;color:#1b1b1b}table{border-collapse:collapse;width:100%;margin-bottom:2rem}"
        "th,td{border:1px solid #ccc;padding:.4rem .6rem;text-align:left;vertical-align:top}"
        "th{background:#eef3f8}small{color:#555}code{font-size:.95em}</style></head><body>"
        "<h1>Bộ mã công suất giường bệnh <small lang='en'>/ Bed capacity codes</small></h1>"
        "<p>Dùng trong báo cáo FHIR MeasureReport gửi số giường (mỗi nhóm là một loại giường, "
        "mỗi quần thể là một số đếm) và trong tài nguyên Location của bệnh viện.<br>"
        "<span lang='en'>Used in FHIR bed-capacity MeasureReports (a group per bed type, a "
        "population per count) and in hospitals' Location resources.</span></p>"
        f"<p>Hệ mã / System: <code>{e(codes.SYSTEM)}</code> · FHIR R4B · "
        f"<a href='?_format=json'>CodeSystem JSON</a> · {e(now.date().isoformat())}</p>"
        + "".join(sections)
        + "</body></html>"
    )


OURS = ("/MeasureReport", "/Location", "/metadata", f"/CodeSystem/{codes.CODE_SYSTEM_ID}")


@router.api_route(
    "/{rest:path}",
    methods=["GET", "POST", "PUT", "PATCH", "DELETE"],
    include_in_schema=False,
)
def not_served(request: Request, rest: str) -> Response:
    """Anything else under /fhir: an OperationOutcome, like every other refusal here."""
    known = any(f"/{rest}".startswith(p) for p in OURS)
    status = 405 if known else 404
    what = f"{request.method} /fhir/{rest}"[:120]
    return FhirResponse(
        dump(outcome([(ISSUE_CODE[status], None, f"{what} is not served; see /fhir/metadata")])),
        status_code=status,
    )
