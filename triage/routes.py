"""HTTP routes of triage: scoring, patients, assessments and follow-ups."""

from __future__ import annotations

from fastapi import APIRouter

router = APIRouter(prefix="/api/v1", tags=["triage"])
