"""Triage rules the other packages call: patients, signed assessments, who may read them, caller risk."""

from __future__ import annotations

import dataclasses
import functools
import hashlib
import json
import logging
import re
from dataclasses import dataclass
from datetime import UTC, date
from typing import Any

from sqlalchemy import column, exists, func, or_, select, table
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from kernel import events
from kernel.accounts import Principal, Role
from kernel.db import new_id, utcnow
from kernel.errors import Conflict, DomainError, Forbidden, InvalidInput, NotFound
from kernel.settings import get_settings
from triage import followups
from triage.models import Assessment, FollowUp, Patient, PatientPhone, Transfer
from triage.scoring.result import score as score_vitals
from triage.scoring.rules import DEFAULT_POLICY, RULE_SETS, Policy, RuleSet
from triage.scoring.vitals import Vitals, VitalsOutOfRange

log = logging.getLogger(__name__)


class PatientNotFound(NotFound):
    code = "patient_not_found"


class AssessmentNotFound(NotFound):
    code = "assessment_not_found"


class NotOnCareTeam(Forbidden):
    code = "not_on_care_team"


class AlreadyAmended(Conflict):
    code = "already_amended"


# --------------------------------------------------------------------------- rules in force


@functools.lru_cache(maxsize=8)
def _policy(overrides_json: str) -> Policy:
    overrides = json.loads(overrides_json)
    if not overrides:
        return DEFAULT_POLICY
    if "name" not in overrides:
        # The name goes into every rules_version; a silent change would make old records lie.
        raise ValueError("HOTLINE_TRIAGE_POLICY_OVERRIDES must give a new policy name")
    fields = {f.name for f in dataclasses.fields(Policy)}
    unknown = set(overrides) - fields
    if unknown:
        raise ValueError(f"unknown policy fields: {', '.join(sorted(unknown))}")
    for key in ("severe_symptoms", "critical_symptoms"):
        if key in overrides:
            overrides[key] = frozenset(overrides[key])
    return Policy(**overrides)


def policy() -> Policy:
    return _policy(json.dumps(get_settings().triage_policy_overrides, sort_keys=True))


def rule_set() -> RuleSet:
    name = get_settings().triage_rule_set
    try:
        return RULE_SETS[name]
    except KeyError:
        raise DomainError(
            f"HOTLINE_TRIAGE_RULE_SET={name!r} is not one of {', '.join(RULE_SETS)}",
            code="rule_set_unknown",
            status_code=500,
        ) from None


_FIELD_NAMES = {"age_years": "age"}


def make_vitals(data: dict[str, Any], *, age: float, extra: dict[str, Any] | None = None) -> Vitals:
    """Vitals from an API body; an implausible value becomes a 422 naming the API's field."""
    fields = {k: v for k, v in data.items() if k != "age"}
    try:
        return Vitals(age_years=age, **fields, **(extra or {}))
    except VitalsOutOfRange as exc:
        raise InvalidInput(_FIELD_NAMES.get(exc.field, exc.field), exc.rule) from None


def score(data: dict[str, Any]) -> dict[str, Any]:
    """The live score of the console and of other tools: nothing is stored."""
    vitals = make_vitals(data, age=data["age"])
    return score_vitals(vitals, rule_set(), policy()).to_dict()


# --------------------------------------------------------------------------- patients

_PHONE = re.compile(r"^\+?[0-9]{6,15}$")


def normalise_phone(phone: str, field: str = "phone") -> str:
    cleaned = re.sub(r"[\s().-]", "", phone)
    if not _PHONE.match(cleaned):
        raise InvalidInput(field, "must be 6-15 digits, optionally starting with +")
    return cleaned


def patient_age(patient: Patient, today: date | None = None) -> float | None:
    today = today or utcnow().date()
    if patient.date_of_birth is not None:
        dob = patient.date_of_birth
        years = today.year - dob.year - ((today.month, today.day) < (dob.month, dob.day))
        if years >= 1:
            return float(years)
        months = (today.year - dob.year) * 12 + today.month - dob.month - (today.day < dob.day)
        return max(months, 0) / 12
    return patient.age_years


def create_patient(session: Session, *, actor: str, **fields: Any) -> Patient:
    phones = [normalise_phone(p, "phones") for p in fields.pop("phones", [])]
    patient = Patient(created_by=actor, **fields)
    patient.phones = [PatientPhone(phone=p) for p in dict.fromkeys(phones)]
    session.add(patient)
    session.flush()
    events.record(
        session,
        kind="patient.created",
        subject_type="patient",
        subject_id=patient.id,
        actor=actor,
        data={"phones": phones, "ward_code": patient.ward_code},
    )
    return patient


def update_patient(session: Session, patient: Patient, *, actor: str, **fields: Any) -> Patient:
    add_phones = [normalise_phone(p, "add_phones") for p in fields.pop("add_phones", [])]
    if fields.get("outcome") and not (fields.get("outcome_on") or patient.outcome_on):
        fields["outcome_on"] = utcnow().date()
    for key, value in fields.items():
        setattr(patient, key, value)
    known = {p.phone for p in patient.phones}
    for phone in add_phones:
        if phone not in known:
            patient.phones.append(PatientPhone(phone=phone))
            known.add(phone)
    session.flush()
    changed = sorted(fields) + (["phones"] if add_phones else [])
    events.record(
        session,
        kind="patient.outcome" if "outcome" in fields else "patient.updated",
        subject_type="patient",
        subject_id=patient.id,
        actor=actor,
        data={"fields": changed, "outcome": patient.outcome},
    )
    return patient


def get_patient(session: Session, patient_id: str) -> Patient:
    patient = session.get(Patient, patient_id)
    if patient is None:
        raise PatientNotFound(f"no patient {patient_id}")
    return patient


def search_patients(
    session: Session, *, phone: str | None = None, name: str | None = None, limit: int = 20
) -> list[Patient]:
    stmt = select(Patient)
    if phone:
        stmt = stmt.where(
            Patient.id.in_(
                select(PatientPhone.patient_id).where(PatientPhone.phone == normalise_phone(phone))
            )
        )
    if name:
        stmt = stmt.where(func.lower(Patient.full_name).contains(name.strip().lower()))
    if not phone and not name:
        raise InvalidInput("phone", "give a phone number or a name to search")
    return list(session.scalars(stmt.order_by(Patient.full_name).limit(limit)))


# --------------------------------------------------------------------------- who may read

# Hotline's tables, read (never written) by name so that triage does not import hotline.
_calls = table("calls", column("caller"), column("answered_by"))
_doctors = table("doctors", column("id"), column("user_id"))


def on_care_team(session: Session, principal: Principal, patient_id: str) -> bool:
    """Supervisors always; a doctor who signed an assessment for the patient or took a call from its number."""
    if principal.role in (Role.SUPERVISOR, Role.ADMIN):
        return True
    if principal.role is not Role.DOCTOR:
        return False
    signed = select(Assessment.id).where(
        Assessment.patient_id == patient_id, Assessment.signed_by == principal.id
    )
    took_call = (
        select(_calls.c.caller)
        .join(_doctors, _doctors.c.id == _calls.c.answered_by)
        .where(
            _doctors.c.user_id == principal.id,
            _calls.c.caller.in_(
                select(PatientPhone.phone).where(PatientPhone.patient_id == patient_id)
            ),
        )
    )
    return bool(session.scalar(select(or_(exists(signed), exists(took_call)))))


def require_care_team(session: Session, principal: Principal, patient_id: str) -> None:
    if not on_care_team(session, principal, patient_id):
        raise NotOnCareTeam(
            "only the signing doctor, supervisors and the patient's care team read assessments"
        )


# --------------------------------------------------------------------------- assessments


def canonical_record(a: Assessment) -> dict[str, Any]:
    """What the signature covers: every clinical field, in a stable form."""
    return {
        "id": a.id,
        "patient_id": a.patient_id,
        "amends_id": a.amends_id,
        "call_id": a.call_id,
        "age_years": a.age_years,
        "vitals": a.vitals,
        "symptoms": a.symptoms,
        "scores": a.scores,
        "recommendation": a.recommendation,
        "decision": a.decision,
        "override_reason": a.override_reason,
        "notes": a.notes,
        "rules_version": a.rules_version,
        "signed_by": a.signed_by,
        "signed_at": a.signed_at.astimezone(UTC).isoformat(timespec="microseconds"),
    }


def content_hash(a: Assessment) -> str:
    blob = json.dumps(
        canonical_record(a), sort_keys=True, separators=(",", ":"), ensure_ascii=False
    )
    return hashlib.sha256(blob.encode()).hexdigest()


def _decide(
    recommended: dict[str, Any], given: dict[str, Any] | None, pol: Policy
) -> dict[str, Any]:
    """The decision as stored: the recommendation unless the doctor chose otherwise."""
    if given is None:
        keys = ("action", "level_of_care", "tier", "urgency", "follow_up_hours")
        return {k: recommended.get(k) for k in keys}
    action = given["action"]
    if action == "home_care":
        hours = given.get("follow_up_hours") or recommended.get("follow_up_hours")
        if hours is None:
            hours = pol.follow_up_hours_news2_low
        return {
            "action": "home_care",
            "level_of_care": None,
            "tier": None,
            "urgency": None,
            "follow_up_hours": hours,
        }
    level = given.get("level_of_care") or recommended.get("level_of_care") or "oxygen"
    return {
        "action": "transfer",
        "level_of_care": level,
        "tier": pol.icu_tier if level == "icu" else pol.oxygen_tier,
        "urgency": "emergency" if level == "icu" else "urgent",
        "follow_up_hours": None,
    }


def _differs(recommended: dict[str, Any], decision: dict[str, Any]) -> bool:
    keys = ("action", "level_of_care", "follow_up_hours")
    return any(recommended.get(k) != decision.get(k) for k in keys)


def latest_assessment(
    session: Session, patient_id: str, *, excluding: str | None = None
) -> Assessment | None:
    stmt = select(Assessment).where(Assessment.patient_id == patient_id)
    if excluding:
        stmt = stmt.where(Assessment.id != excluding)
    return session.scalar(stmt.order_by(Assessment.signed_at.desc(), Assessment.id).limit(1))


def sign_assessment(
    session: Session, principal: Principal, patient: Patient, body: dict[str, Any]
) -> Assessment:
    """Score, record and sign an assessment, then act on its decision (follow-up or transfer)."""
    if principal.role is not Role.DOCTOR:
        # Admins pass every role check; a signature still has to be a doctor's.
        raise Forbidden("only doctors sign assessments", code="doctor_required")
    if patient.outcome is not None:
        raise Conflict(f"patient's outcome is {patient.outcome}", code="patient_closed")
    raw = dict(body["vitals"])
    age = raw.pop("age", None)
    if age is None:
        age = patient_age(patient)
    if age is None:
        raise InvalidInput("vitals.age", "give the age: the patient record has none")
    vitals = make_vitals(
        raw,
        age=age,
        extra={
            "pregnant": patient.pregnant,
            "vaccination_doses": patient.vaccination_doses,
            "comorbidities": tuple(patient.risk_factors or ()),
        },
    )
    pol, rs = policy(), rule_set()
    result = score_vitals(vitals, rs, pol)
    scores = result.to_dict()
    recommended = scores["disposition"]
    decision_in = body.get("decision")
    decision = _decide(recommended, decision_in, pol)
    overridden = decision_in is not None and _differs(recommended, decision)
    reason = (body.get("override_reason") or "").strip() or None
    if overridden and not reason:
        raise InvalidInput(
            "override_reason", "required when the decision differs from the recommendation"
        )

    amends_id = body.get("amends_id")
    if amends_id:
        amended = session.get(Assessment, amends_id)
        if amended is None or amended.patient_id != patient.id:
            raise InvalidInput("amends_id", "must be an assessment of the same patient")
        if session.scalar(select(Assessment.id).where(Assessment.amends_id == amends_id)):
            raise AlreadyAmended("that assessment was already amended; amend the latest one")
    previous = latest_assessment(session, patient.id)

    a = Assessment(
        id=new_id(),
        patient_id=patient.id,
        amends_id=amends_id,
        call_id=body.get("call_id"),
        age_years=float(age),
        vitals={k: v for k, v in raw.items() if k != "symptoms"},
        symptoms=list(vitals.symptoms),
        scores=scores,
        news2_total=scores["news2"]["total"],
        spo2=vitals.spo2,
        severity=scores["severity"],
        recommendation=recommended,
        decision=decision,
        overridden=overridden,
        override_reason=reason,
        notes=body.get("notes") or "",
        rules_version=scores["rules_version"],
        signed_by=principal.id,
        signed_at=utcnow(),
        content_hash="",
    )
    a.content_hash = content_hash(a)
    session.add(a)
    try:
        session.flush()
    except IntegrityError:
        # Two doctors amending the same record at once: the unique amends_id lets one win.
        raise AlreadyAmended("that assessment was just amended by someone else") from None
    events.record(
        session,
        kind="assessment.signed",
        subject_type="assessment",
        subject_id=a.id,
        actor=principal.actor,
        data={
            "patient_id": patient.id,
            "amends_id": amends_id,
            "severity": a.severity,
            "news2": a.news2_total,
            "decision": decision["action"],
            "overridden": overridden,
            "content_hash": a.content_hash,
        },
    )
    followups.close_open(session, patient.id, by_assessment_id=a.id)
    phone = body.get("phone")
    phone = (
        normalise_phone(phone) if phone else (patient.phones[0].phone if patient.phones else None)
    )
    if decision["action"] == "home_care":
        followups.schedule(
            session,
            patient=patient,
            assessment=a,
            previous=previous,
            phone=phone,
            hours=float(decision["follow_up_hours"]),
            rule_set=rs,
        )
        if patient.care_tier is None or patient.isolation_place == "home":
            patient.care_tier = 1
    else:
        patient.care_tier = decision["tier"]
        open_transfer(session, patient=patient, assessment=a, actor=principal.actor)
    return a


def get_assessment(session: Session, assessment_id: str) -> Assessment:
    a = session.get(Assessment, assessment_id)
    if a is None:
        raise AssessmentNotFound(f"no assessment {assessment_id}")
    return a


def read_assessments(session: Session, principal: Principal, assessments: list[Assessment]) -> None:
    """The audit trail of reads: one event per record shown."""
    for a in assessments:
        events.record(
            session,
            kind="assessment.read",
            subject_type="assessment",
            subject_id=a.id,
            actor=principal.actor,
            data={"patient_id": a.patient_id},
        )


def assessment_view(session: Session, a: Assessment) -> dict[str, Any]:
    amended_by = session.scalar(select(Assessment.id).where(Assessment.amends_id == a.id))
    fu = session.scalar(select(FollowUp).where(FollowUp.assessment_id == a.id))
    tr = session.scalar(select(Transfer).where(Transfer.assessment_id == a.id))
    return {
        **{
            c: getattr(a, c)
            for c in (
                "id",
                "patient_id",
                "amends_id",
                "call_id",
                "age_years",
                "vitals",
                "symptoms",
                "scores",
                "recommendation",
                "decision",
                "overridden",
                "override_reason",
                "notes",
                "rules_version",
                "signed_by",
                "signed_at",
                "content_hash",
            )
        },
        "amended_by_id": amended_by,
        "hash_valid": content_hash(a) == a.content_hash,
        "follow_up": followups.view(fu) if fu else None,
        "transfer": transfer_view(session, tr) if tr else None,
    }


def timeline(session: Session, principal: Principal, patient: Patient) -> dict[str, Any]:
    """Assessments, follow-ups and transfers in time order, with the NEWS2/SpO2 trend."""
    require_care_team(session, principal, patient.id)
    assessments = list(
        session.scalars(
            select(Assessment)
            .where(Assessment.patient_id == patient.id)
            .order_by(Assessment.signed_at, Assessment.id)
        )
    )
    read_assessments(session, principal, assessments)
    items: list[dict[str, Any]] = []
    for a in assessments:
        items.append({"kind": "assessment", "at": a.signed_at, **assessment_view(session, a)})
    for fu in session.scalars(select(FollowUp).where(FollowUp.patient_id == patient.id)):
        items.append({"kind": "follow_up", "at": fu.due_at, **followups.view(fu)})
    for tr in session.scalars(select(Transfer).where(Transfer.patient_id == patient.id)):
        items.append({"kind": "transfer", "at": tr.created_at, **transfer_view(session, tr)})
    items.sort(key=lambda i: i["at"])
    superseded = {a.amends_id for a in assessments if a.amends_id}
    trend = [
        {"at": a.signed_at, "news2": a.news2_total, "spo2": a.spo2, "assessment_id": a.id}
        for a in assessments
        if a.id not in superseded
    ]
    return {"patient_id": patient.id, "items": items, "trend": trend}


# --------------------------------------------------------------------------- escalation to dispatch


def pickup_point(patient: Patient) -> tuple[float, float]:
    s = get_settings()
    if patient.lat is not None and patient.lon is not None:
        return patient.lat, patient.lon
    centroid = s.triage_ward_centroids.get(patient.ward_code or "")
    if centroid:
        return float(centroid[0]), float(centroid[1])
    return s.triage_default_lat, s.triage_default_lon


def _dispatch_service() -> Any | None:
    try:
        from dispatch import service as dispatch_service
    except ImportError:
        return None
    return dispatch_service if hasattr(dispatch_service, "create_transfer_request") else None


def open_transfer(
    session: Session, *, patient: Patient, assessment: Assessment, actor: str
) -> Transfer:
    """Record the transfer decision and hand it to dispatch in the same transaction when it can."""
    decision = assessment.decision
    lat, lon = pickup_point(patient)
    tr = Transfer(
        assessment_id=assessment.id,
        patient_id=patient.id,
        bed_type="icu" if decision["level_of_care"] == "icu" else "oxygen",
        urgency=decision["urgency"] or "urgent",
        pickup_lat=lat,
        pickup_lon=lon,
        requested_by=actor,
    )
    # A patient has at most one live request in dispatch: a later transfer decision (or a
    # correction) joins the one dispatch already works on instead of being refused.
    earlier = session.scalar(
        select(Transfer)
        .where(Transfer.patient_id == patient.id, Transfer.transfer_request_id.is_not(None))
        .order_by(Transfer.created_at.desc())
        .limit(1)
    )
    if earlier is not None and _request_is_live(session, earlier.transfer_request_id):
        tr.transfer_request_id, tr.state, tr.requested_at = (
            earlier.transfer_request_id,
            "requested",
            earlier.requested_at,
        )
    session.add(tr)
    session.flush()
    if tr.state != "requested":
        request_transfer(session, tr, note=_transfer_note(assessment))
    return tr


def _transfer_note(a: Assessment) -> str:
    n = a.scores.get("news2", {}).get("total")
    signs = ", ".join(a.scores.get("warning_signs", [])) or "none"
    return f"NEWS2 {n}; severity {a.severity}; warning signs: {signs}; assessment {a.id}"


def request_transfer(session: Session, tr: Transfer, *, note: str = "") -> bool:
    """Ask dispatch for the transfer; a failure leaves it queued for the sweep to retry."""
    svc = _dispatch_service()
    if svc is None:
        events.record(
            session,
            kind="transfer.queued",
            subject_type="triage_transfer",
            subject_id=tr.id,
            actor="triage",
            data={"why": "dispatch service unavailable"},
        )
        return False
    try:
        with session.begin_nested():
            req = svc.create_transfer_request(
                session,
                patient_ref=tr.patient_id,
                bed_type=tr.bed_type,
                urgency=tr.urgency,
                pickup_lat=tr.pickup_lat,
                pickup_lon=tr.pickup_lon,
                requested_by=tr.requested_by,
                note=note,
            )
    except Exception as exc:  # the decision stands; dispatch is retried, not the doctor
        log.exception("transfer request for %s failed", tr.id)
        events.record(
            session,
            kind="transfer.queued",
            subject_type="triage_transfer",
            subject_id=tr.id,
            actor="triage",
            data={"why": f"{type(exc).__name__}: {exc}"[:200]},
        )
        return False
    tr.transfer_request_id = str(req.id)
    tr.state = "requested"
    tr.requested_at = utcnow()
    events.record(
        session,
        kind="transfer.requested",
        subject_type="triage_transfer",
        subject_id=tr.id,
        actor=tr.requested_by,
        data={
            "transfer_request_id": tr.transfer_request_id,
            "bed_type": tr.bed_type,
            "urgency": tr.urgency,
            "patient_id": tr.patient_id,
        },
    )
    return True


def _dispatch_request(session: Session, request_id: str | None) -> Any | None:
    svc = _dispatch_service()
    getter = getattr(svc, "get_transfer", None) or getattr(svc, "get_transfer_request", None)
    if getter is None or not request_id:
        return None
    try:
        return getter(session, request_id)
    except DomainError:
        return None


def _request_is_live(session: Session, request_id: str | None) -> bool:
    req = _dispatch_request(session, request_id)
    return req is not None and getattr(req, "live_patient_ref", None) is not None


def transfer_status(session: Session, tr: Transfer) -> str | None:
    """Dispatch's status of the request, read live through its service."""
    req = _dispatch_request(session, tr.transfer_request_id)
    return None if req is None else getattr(req, "status", None)


def transfer_view(session: Session, tr: Transfer) -> dict[str, Any]:
    return {
        "id": tr.id,
        "assessment_id": tr.assessment_id,
        "bed_type": tr.bed_type,
        "urgency": tr.urgency,
        "pickup": {"lat": tr.pickup_lat, "lon": tr.pickup_lon},
        "state": tr.state,
        "transfer_request_id": tr.transfer_request_id,
        "dispatch_status": transfer_status(session, tr),
        "created_at": tr.created_at,
        "requested_at": tr.requested_at,
    }


# --------------------------------------------------------------------------- routing


@dataclass(frozen=True)
class CallerRisk:
    """What routing may know about the patients behind a phone number."""

    severe: bool  # latest assessment severe or critical
    high_risk: bool  # risk factors (comorbidity, pregnancy, unvaccinated elderly...)
    age: int | None  # the oldest patient on the number


def caller_risk(session: Session, phone: str) -> CallerRisk | None:
    """None while no patient is registered on the number; patients with an outcome are left out."""
    patients = list(
        session.scalars(
            select(Patient).where(
                Patient.outcome.is_(None),
                Patient.id.in_(select(PatientPhone.patient_id).where(PatientPhone.phone == phone)),
            )
        )
    )
    if not patients:
        return None
    pol = policy()
    severe = high_risk = False
    ages: list[float] = []
    for p in patients:
        latest = latest_assessment(session, p.id)
        if latest is not None and latest.severity in ("severe", "critical"):
            severe = True
        age = patient_age(p)
        if age is not None:
            ages.append(age)
        if (
            p.risk_factors
            or p.pregnant
            or (
                p.vaccination_doses is not None
                and p.vaccination_doses < pol.unvaccinated_below_doses
            )
        ):
            high_risk = True
    return CallerRisk(severe=severe, high_risk=high_risk, age=int(max(ages)) if ages else None)
