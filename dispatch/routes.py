"""HTTP routes of dispatch: hospitals, bed pools, transfer requests and handover."""

from __future__ import annotations

from fastapi import APIRouter

router = APIRouter(prefix="/api/v1", tags=["dispatch"])
