"""Follow-ups: intervals, rising risk, dispatch once, closing, escalation after the grace period."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from rq import SimpleWorker
from sqlalchemy import select, update

from kernel.db import unit_of_work
from kernel.events import Event
from kernel.redisconn import get_redis_bytes
from tests.helpers import RecordingSink, followup, login, new_patient, seed_branches, sign
from triage import followups, jobs
from triage.models import FollowUp


def test_home_care_schedules_a_followup_in_the_database(client: Any) -> None:
    doc = login(client, "doc")
    p = new_patient(client, doc)
    a = sign(client, doc, p["id"])
    fu = followup(a["follow_up"]["id"])
    assert fu.state == "scheduled" and fu.interval_hours == 12
    assert fu.due_at - timedelta(hours=12) == fu.escalate_at - timedelta(hours=12, seconds=1800)
    assert fu.phone == "0901234567" and fu.task_ref == f"followup:{fu.id}"
    # No timer in Redis: the scheduler's tick finds the follow-up on its row once it is due.
    assert jobs.followups_queue().scheduled_job_registry.count == 0
    with unit_of_work() as session:
        assert jobs.due_jobs(session, fu.due_at - timedelta(seconds=1)) == []
        due = jobs.due_jobs(session, fu.due_at)
    assert [d.job_id for d in due] == [f"followup-due-{fu.id}"]


def test_risk_factors_and_single_three_shorten_the_interval(client: Any) -> None:
    doc = login(client, "doc")
    old = new_patient(client, doc, age_years=70)
    assert sign(client, doc, old["id"])["follow_up"]["interval_hours"] == 6
    young = new_patient(client, doc, full_name="B", phones=["0911111111"])
    single_three = sign(client, doc, young["id"], vitals={"respiratory_rate": 8})
    assert single_three["follow_up"]["interval_hours"] == 1


def test_rising_news2_halves_the_interval_and_supersedes(client: Any) -> None:
    doc = login(client, "doc")
    p = new_patient(client, doc)
    first = sign(client, doc, p["id"])
    # NEWS2 0 -> 3 (RR 22 scores 2, 38.5 C scores 1); no warning sign at RR 22? RR >= 20 is one,
    # so the doctor keeps the patient home with a reason.
    second = sign(
        client,
        doc,
        p["id"],
        vitals={"respiratory_rate": 22, "temperature_c": 38.5},
        decision={"action": "home_care", "follow_up_hours": 4},
        override_reason="breathing eased during the call",
    )
    assert second["scores"]["news2"]["total"] == 3
    assert second["follow_up"]["interval_hours"] == 2
    assert "NEWS2 rose 0 -> 3" in second["follow_up"]["reason"]
    # The same reason as a code and numbers, which the console words in Vietnamese or English.
    assert second["follow_up"]["reason_code"] == "news2_rose"
    assert second["follow_up"]["reason_params"] == {"from": 0, "to": 3, "hours": 2}
    assert first["follow_up"]["reason_code"] == "home_care"
    assert first["follow_up"]["reason_params"] == {"hours": 12}
    assert followup(first["follow_up"]["id"]).state == "cancelled"


def test_spo2_newly_at_warning_sign_halves_the_interval(client: Any, settings: Any) -> None:
    doc = login(client, "doc")
    p = new_patient(client, doc)
    sign(client, doc, p["id"], vitals={"spo2": 97})
    a = sign(
        client,
        doc,
        p["id"],
        vitals={"spo2": 96},
        decision={"action": "home_care", "follow_up_hours": 6},
        override_reason="re-measure pending",
    )
    assert a["follow_up"]["interval_hours"] == 3
    assert a["follow_up"]["reason_code"] == "spo2_fell"
    assert a["follow_up"]["reason_params"] == {"from": 97, "to": 96, "limit": 96, "hours": 3}
    settings.followup_rising_risk_factor = 0.25
    b = sign(
        client,
        doc,
        p["id"],
        vitals={"spo2": 96},
        decision={"action": "home_care", "follow_up_hours": 6},
        override_reason="same",
    )
    # Already at the warning sign last time: not "newly", so no shortening.
    assert b["follow_up"]["interval_hours"] == 6


def test_due_followup_dispatches_once(client: Any, sink: RecordingSink) -> None:
    doc = login(client, "doc")
    p = new_patient(client, doc)
    a = sign(client, doc, p["id"])
    fu = followup(a["follow_up"]["id"])
    with unit_of_work() as session:
        assert not followups.dispatch_due(session, fu.id, fu.due_at - timedelta(seconds=1))
    with unit_of_work() as session:
        assert followups.dispatch_due(session, fu.id, fu.due_at)
    with unit_of_work() as session:
        assert not followups.dispatch_due(session, fu.id, fu.due_at + timedelta(hours=1))
    assert [t.task_ref for t in sink.dispatched] == [f"followup:{fu.id}"]
    assert sink.dispatched[0].branch_digit == "3" and sink.dispatched[0].phone == "0901234567"
    assert followup(fu.id).state == "dispatched"
    # The doctor who takes the follow-up call signs an assessment: the follow-up is done.
    sign(client, doc, p["id"])
    done = followup(fu.id)
    assert done.state == "done" and done.closed_by_assessment_id


def test_overdue_followup_escalates_once_and_alerts(client: Any, sink: RecordingSink) -> None:
    doc = login(client, "doc")
    p = new_patient(client, doc)
    fu = followup(sign(client, doc, p["id"])["follow_up"]["id"])
    with unit_of_work() as session:
        followups.dispatch_due(session, fu.id, fu.due_at)
    with unit_of_work() as session:
        assert not followups.escalate_overdue(session, fu.id, fu.escalate_at - timedelta(seconds=1))
    for _ in range(2):
        with unit_of_work() as session:
            followups.escalate_overdue(session, fu.id, fu.escalate_at)
    assert len(sink.escalated) == 1
    assert followup(fu.id).state == "escalated"
    with unit_of_work() as session:
        alerts = session.scalars(select(Event).where(Event.kind == "followup.escalated")).all()
        assert len(alerts) == 1 and alerts[0].data["alert"] == "supervisor"
    sign(client, doc, p["id"])
    assert followup(fu.id).state == "done"


def test_sweep_reenqueues_lost_jobs_and_a_worker_runs_them(
    client: Any, sink: RecordingSink
) -> None:
    doc = login(client, "doc")
    p = new_patient(client, doc)
    fid = sign(client, doc, p["id"])["follow_up"]["id"]
    # The scheduled jobs are lost (Redis flushed) and the follow-up is now past due and grace.
    get_redis_bytes().flushdb()
    fu = followup(fid)
    with unit_of_work() as session:
        session.execute(
            update(FollowUp)
            .where(FollowUp.id == fid)
            .values(
                due_at=fu.due_at - timedelta(hours=13),
                escalate_at=fu.escalate_at - timedelta(hours=13),
            )
        )
    assert jobs.sweep_once() == {"due": 1, "overdue": 0, "transfers": 0}
    assert jobs.sweep_once()["due"] == 1  # not dispatched yet: enqueued again, harmlessly
    q = jobs.followups_queue()
    SimpleWorker([q], connection=q.connection).work(burst=True)
    assert len(sink.dispatched) == 1 and followup(fid).state == "dispatched"
    assert jobs.sweep_once() == {"due": 0, "overdue": 1, "transfers": 0}
    SimpleWorker([q], connection=q.connection).work(burst=True)
    assert len(sink.escalated) == 1 and followup(fid).state == "escalated"


def test_followup_without_phone_alerts_a_supervisor(client: Any, sink: RecordingSink) -> None:
    doc = login(client, "doc")
    p = new_patient(client, doc, phones=[])
    fu = followup(sign(client, doc, p["id"])["follow_up"]["id"])
    with unit_of_work() as session:
        assert followups.dispatch_due(session, fu.id, fu.due_at)
    assert sink.dispatched == [] and followup(fu.id).state == "escalated"


def test_hotline_sink_puts_the_followup_in_branch_3(client: Any) -> None:
    from hotline.models import Call

    seed_branches()
    doc = login(client, "doc")
    p = new_patient(client, doc, age_years=70)
    fu = followup(sign(client, doc, p["id"])["follow_up"]["id"])
    with unit_of_work() as session:
        assert followups.dispatch_due(session, fu.id, fu.due_at)
    with unit_of_work() as session:
        followups.escalate_overdue(session, fu.id, fu.escalate_at)
    with unit_of_work() as session:
        calls = session.scalars(select(Call).order_by(Call.priority)).all()
        assert [(c.task_ref, c.direction, c.branch.digit) for c in calls] == [
            (f"followup:{fu.id}:escalated", "followup", "3"),
            (f"followup:{fu.id}", "followup", "3"),
        ]
        assert calls[0].priority == 0 and calls[0].caller == "0901234567"
