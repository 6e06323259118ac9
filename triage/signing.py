"""Signing an assessment: score it with the rules in force, record and sign it, then act on its decision."""

from __future__ import annotations

from typing import Any, Final

from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from kernel import events
from kernel.accounts import Principal, Role
from kernel.db import new_id, utcnow
from kernel.errors import Conflict, Forbidden, InvalidInput
from triage import followups, rules
from triage.assessments import amendment_of, content_hash, latest_assessment
from triage.models import Assessment, Patient
from triage.patients import normalise_phone, patient_age, phones_of
from triage.schemas import AssessmentIn, DecisionIn
from triage.scoring.result import score
from triage.scoring.rules import Policy, RuleSet
from triage.scoring.vitals import Vitals
from triage.transfers import open_transfer
from triage.vocabulary import Action, IsolationPlace, LevelOfCare, Urgency

# The Ministry's tier 1 (tầng 1): asymptomatic or mild, cared for at home.
HOME_CARE_TIER: Final = 1


class AlreadyAmended(Conflict):
    code = "already_amended"


def _decide(recommended: dict[str, Any], given: DecisionIn | None, pol: Policy) -> dict[str, Any]:
    """The decision as stored: the recommendation unless the doctor chose otherwise."""
    if given is None:
        keys = ("action", "level_of_care", "tier", "urgency", "follow_up_hours")
        return {k: recommended.get(k) for k in keys}
    if given.action == Action.HOME_CARE:
        hours = given.follow_up_hours or recommended.get("follow_up_hours")
        if hours is None:
            hours = pol.follow_up_hours_news2_low
        return {
            "action": Action.HOME_CARE,
            "level_of_care": None,
            "tier": None,
            "urgency": None,
            "follow_up_hours": hours,
        }
    level = given.level_of_care or recommended.get("level_of_care") or LevelOfCare.OXYGEN
    icu = level == LevelOfCare.ICU
    return {
        "action": Action.TRANSFER,
        "level_of_care": level,
        "tier": pol.icu_tier if icu else pol.oxygen_tier,
        "urgency": Urgency.EMERGENCY if icu else Urgency.URGENT,
        "follow_up_hours": None,
    }


def _differs(recommended: dict[str, Any], decision: dict[str, Any]) -> bool:
    keys = ("action", "level_of_care", "follow_up_hours")
    return any(recommended.get(k) != decision.get(k) for k in keys)


def _check_can_sign(principal: Principal, patient: Patient) -> None:
    if principal.role is not Role.DOCTOR:
        # Admins pass every role check; a signature still has to be a doctor's.
        raise Forbidden("only doctors sign assessments", code="doctor_required")
    if patient.outcome is not None:
        raise Conflict(f"patient's outcome is {patient.outcome}", code="patient_closed")


def _check_amendable(session: Session, patient: Patient, amends_id: str) -> None:
    amended = session.get(Assessment, amends_id)
    if amended is None or amended.patient_id != patient.id:
        raise InvalidInput("amends_id", "must be an assessment of the same patient")
    if amendment_of(session, amends_id):
        raise AlreadyAmended("that assessment was already amended; amend the latest one")


def _add_signed(session: Session, a: Assessment, principal: Principal) -> None:
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
            "patient_id": a.patient_id,
            "amends_id": a.amends_id,
            "severity": a.severity,
            "news2": a.news2_total,
            "decision": a.decision["action"],
            "overridden": a.overridden,
            "content_hash": a.content_hash,
        },
    )


def _act_on_decision(
    session: Session,
    a: Assessment,
    *,
    patient: Patient,
    previous: Assessment | None,
    phone: str | None,
    rule_set: RuleSet,
    actor: str,
) -> None:
    """The new record answers the follow-ups owed; then a new follow-up, or a transfer."""
    followups.close_open(session, patient.id, by_assessment_id=a.id)
    phone = normalise_phone(phone) if phone else next(iter(phones_of(patient)), None)
    if a.decision["action"] == Action.TRANSFER:
        patient.care_tier = a.decision["tier"]
        open_transfer(session, patient=patient, assessment=a, actor=actor)
        return
    followups.schedule(
        session,
        patient=patient,
        assessment=a,
        previous=previous,
        phone=phone,
        hours=float(a.decision["follow_up_hours"]),
        rule_set=rule_set,
    )
    if patient.care_tier is None or patient.isolation_place == IsolationPlace.HOME:
        patient.care_tier = HOME_CARE_TIER


def _vitals(body: AssessmentIn, patient: Patient) -> tuple[float, dict[str, Any], Vitals]:
    """The age, the vitals as reported (age aside) and as scored, with the patient's risk facts."""
    reported = body.vitals.model_dump(exclude_unset=True)
    age = reported.pop("age", None)
    if age is None:
        age = patient_age(patient)
    if age is None:
        raise InvalidInput("vitals.age", "give the age: the patient record has none")
    vitals = rules.vitals_from(
        reported,
        age=age,
        pregnant=patient.pregnant,
        vaccination_doses=patient.vaccination_doses,
        comorbidities=tuple(patient.risk_factors or ()),
    )
    return age, reported, vitals


def sign_assessment(
    session: Session, principal: Principal, patient: Patient, body: AssessmentIn
) -> Assessment:
    """Score, record and sign an assessment, then act on its decision (follow-up or transfer)."""
    _check_can_sign(principal, patient)
    age, reported, vitals = _vitals(body, patient)
    pol, rs = rules.policy(), rules.rule_set()
    scores = score(vitals, rs, pol).to_dict()
    recommended = scores["disposition"]
    decision = _decide(recommended, body.decision, pol)
    overridden = body.decision is not None and _differs(recommended, decision)
    reason = (body.override_reason or "").strip() or None
    if overridden and not reason:
        raise InvalidInput(
            "override_reason", "required when the decision differs from the recommendation"
        )
    if body.amends_id:
        _check_amendable(session, patient, body.amends_id)
    previous = latest_assessment(session, patient.id)
    a = Assessment(
        id=new_id(),
        patient_id=patient.id,
        amends_id=body.amends_id,
        call_id=body.call_id,
        age_years=float(age),
        vitals={k: v for k, v in reported.items() if k != "symptoms"},
        symptoms=list(vitals.symptoms),
        scores=scores,
        news2_total=scores["news2"]["total"],
        spo2=vitals.spo2,
        severity=scores["severity"],
        recommendation=recommended,
        decision=decision,
        overridden=overridden,
        override_reason=reason,
        notes=body.notes or "",
        rules_version=scores["rules_version"],
        signed_by=principal.id,
        signed_at=utcnow(),
        content_hash="",
    )
    _add_signed(session, a, principal)
    _act_on_decision(
        session,
        a,
        patient=patient,
        previous=previous,
        phone=body.phone,
        rule_set=rs,
        actor=principal.actor,
    )
    return a
