"""Liveness and readiness: is the process up, and can it reach each dependency right now.

``/healthz`` keeps its summary (200 when both answer, 503 otherwise). ``/healthz/live``
says only that the process serves requests (a supervisor restarts it when this fails);
``/healthz/ready`` says, per dependency, whether it answered and how long it took (a load
balancer stops sending traffic while this is 503).
"""

from __future__ import annotations

import time
from typing import Literal

from fastapi import APIRouter
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field
from sqlalchemy import text

from kernel.db import get_engine
from kernel.errors import outages
from kernel.redisconn import get_redis

router = APIRouter(tags=["public"])


class LiveOut(BaseModel):
    status: Literal["alive"]


class DependencyOut(BaseModel):
    ready: bool
    latency_ms: float | None = Field(description="how long the probe took; none when it failed")
    error: str | None = Field(description="the kind of error when not ready")


class ReadyOut(BaseModel):
    ready: bool
    dependencies: dict[str, DependencyOut] = Field(description="database and redis")


@router.get("/healthz/live", response_model=LiveOut)
def live() -> dict[str, str]:
    return {"status": "alive"}


def _probe(name: str) -> DependencyOut:
    started = time.perf_counter()
    try:
        if name == "database":
            with get_engine().connect() as conn:
                conn.execute(text("SELECT 1"))
        else:
            get_redis().ping()
    except Exception as exc:
        outages.failed(name, exc)
        return DependencyOut(ready=False, latency_ms=None, error=type(exc).__name__)
    outages.answered(name)
    elapsed = round((time.perf_counter() - started) * 1000, 2)
    return DependencyOut(ready=True, latency_ms=elapsed, error=None)


@router.get(
    "/healthz/ready",
    response_model=ReadyOut,
    responses={503: {"model": ReadyOut, "description": "a dependency is unreachable"}},
)
def ready() -> JSONResponse:
    deps = {name: _probe(name) for name in ("database", "redis")}
    ok = all(d.ready for d in deps.values())
    body = ReadyOut(ready=ok, dependencies=deps)
    return JSONResponse(body.model_dump(), status_code=200 if ok else 503)
