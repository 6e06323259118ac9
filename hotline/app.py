"""The composition root: the one module that knows every router and starts the background loops."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

from fastapi import FastAPI
from fastapi.responses import JSONResponse, RedirectResponse
from fastapi.staticfiles import StaticFiles
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError
from sqlalchemy import text
from sqlalchemy.exc import OperationalError

from dispatch import beds_import
from dispatch import routes as dispatch_routes
from dispatch.fhir import routes as fhir_routes
from hotline import (
    api_docs,
    console_ws,
    dashboard_routes,
    followups,
    health_routes,
    metrics,
    presence,
    rebuild,
    routes,
    schemas,
    supervision_routes,
)
from hotline.live import BranchFigures, FiguresRound, Heartbeats, Hub
from hotline.routing import keys
from hotline.routing.router import router_for
from hotline.voice import routes as voice_routes
from kernel import (
    auth_routes,
    http_observe,
    migrate,
    runtime_observe,
    telemetry,
    ws_tickets,
)
from kernel.db import get_engine, unit_of_work
from kernel.errors import install_error_handlers, outages
from kernel.input_guard import RefuseUnsafeText
from kernel.openapi_errors import install_error_descriptions
from kernel.redisconn import get_redis
from kernel.security_headers import SecurityHeaders
from kernel.settings import get_settings
from triage import patient_cards as triage_patient_cards
from triage import routes as triage_routes
from triage.areas import routes as area_routes

log = logging.getLogger(__name__)
STATIC = Path(__file__).parent / "static"
SHUTDOWN_GRACE_S = 10.0


def sweep_once() -> None:
    r = get_redis()
    t0 = time.perf_counter()
    with unit_of_work() as session:
        rebuilt = rebuild.ensure_ready(session, r)
    if rebuilt:
        with unit_of_work() as session:
            rebuild.match_all(session, r)
    with unit_of_work() as session:
        presence.sweep(session, r)
    # The reconciliation pass is the workers' duty (hotline/reconcile.py says why).
    telemetry.mark_sweep(r, "routing_sweep")
    telemetry.record_sweep_time(r, time.perf_counter() - t0)


async def _sweeper(interval: float, stopping: asyncio.Event) -> None:
    while not stopping.is_set():
        try:
            await asyncio.to_thread(sweep_once)
            # A sweep may touch no table; the database's return is told by a new
            # connection (kernel.db), not by a sweep that never asked it.
            outages.answered("redis")
        except (RedisConnectionError, RedisTimeoutError) as exc:
            outages.failed("redis", exc)
        except OperationalError as exc:
            outages.failed("database", exc)
        except Exception:
            log.exception("routing sweep failed")
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stopping.wait(), interval)


@contextlib.asynccontextmanager
async def lifespan(app: FastAPI) -> AsyncIterator[None]:
    settings = get_settings()
    migrate.require_current()
    hub = Hub(keys.PUSH_PATTERNS)
    app.state.hub = hub
    app.state.open_consoles = set()  # the console websockets this process holds
    app.state.figures = BranchFigures(router_for(get_redis()).branch_figures, ttl_s=0.9)
    app.state.heartbeats = Heartbeats(router_for(get_redis()).heartbeat_many, every_s=0.5)
    beating = asyncio.create_task(app.state.heartbeats.run(), name="console-heartbeats")
    app.state.figures_round = FiguresRound(app.state.figures, console_ws.figures_interval_s)
    rounds = asyncio.create_task(app.state.figures_round.run(), name="console-figures")
    await hub.start()
    stopping = asyncio.Event()
    runtime_observe.watch_collector()
    lagging = asyncio.create_task(runtime_observe.watch_loop(stopping), name="loop-lag")
    if settings.gc_gen0_threshold:
        runtime_observe.tune_collector(settings.gc_gen0_threshold, settings.gc_full_walk_every)
    sweeper = None
    if settings.run_sweeper:
        sweeper = asyncio.create_task(_sweeper(settings.sweep_interval_s, stopping))
    else:
        await asyncio.to_thread(_ensure_ready_once)
    try:
        yield
    finally:
        # Let a sweep in progress write what Redis decided before the process goes: a
        # cancelled task would leave its thread running into the exit (and the decision
        # unrecorded). A sweep takes milliseconds; the bound only guards a hung database.
        stopping.set()
        if sweeper is not None:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(asyncio.shield(sweeper), SHUTDOWN_GRACE_S)
        await hub.stop()
        lagging.cancel()
        rounds.cancel()
        beating.cancel()
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await beating


def _ensure_ready_once() -> None:
    with unit_of_work() as session:
        rebuild.ensure_ready(session, get_redis())


def health() -> JSONResponse:
    status: dict[str, Any] = {"status": "ok", "database": "ok", "redis": "ok"}
    try:
        with get_engine().connect() as conn:
            conn.execute(text("SELECT 1"))
    except Exception as exc:
        status["database"] = f"down: {type(exc).__name__}"
    try:
        get_redis().ping()
    except Exception as exc:
        status["redis"] = f"down: {type(exc).__name__}"
    ok = status["database"] == "ok" and status["redis"] == "ok"
    if not ok:
        status["status"] = "degraded"
    return JSONResponse(status, status_code=200 if ok else 503)


def create_app() -> FastAPI:
    app = FastAPI(
        title="1022 hotline", version="0.1.0", lifespan=lifespan, docs_url=None, redoc_url=None
    )
    # The two routes the gateway and the hospitals call all day come first: Starlette tries
    # the routes in order, and each one tried before the match costs the request time.
    app.include_router(routes.hot_router)
    app.include_router(dispatch_routes.hot_router)
    api_docs.install(app)
    followups.register()
    triage_patient_cards.register()
    install_error_handlers(app)
    install_error_descriptions(app)
    # Middleware added last runs first: observation wraps everything, headers go on every
    # answer (refusals included), unsafe text is refused before any route reads it.
    app.add_middleware(RefuseUnsafeText)
    app.add_middleware(SecurityHeaders)  # kernel/security_headers.py: CSP, nosniff, no framing
    http_observe.install(app)
    metrics.install(app)
    app.add_api_route(
        "/healthz",
        health,
        methods=["GET"],
        tags=["public"],
        response_model=schemas.HealthOut,
        responses={503: {"model": schemas.HealthOut, "description": "a dependency is down"}},
    )
    app.include_router(auth_routes.router)
    app.include_router(ws_tickets.router)
    app.include_router(health_routes.router)
    app.include_router(routes.router)
    app.include_router(supervision_routes.router)
    app.include_router(console_ws.router)
    app.include_router(triage_routes.router)
    app.include_router(dispatch_routes.router)
    app.include_router(area_routes.router)
    app.include_router(dashboard_routes.router)
    app.include_router(fhir_routes.router)
    app.include_router(beds_import.router)
    voice_routes.install(app)
    if STATIC.exists():
        app.mount("/static", StaticFiles(directory=STATIC), name="static")

        @app.get("/", include_in_schema=False)
        def index() -> RedirectResponse:
            return RedirectResponse("/static/console.html")

    return app
