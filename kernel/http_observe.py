"""The HTTP layer's own figures and log: request ids, the access log, request metrics, open websockets.

One pure ASGI middleware (no per-request task or body buffering) that, for every request:
- takes the caller's X-Request-ID when it is a plain token, or makes one, and sends it back;
- puts the request id in the logging context (kernel.logs), so every line logged while serving
  the request carries it, and after routing the route template and the call, transfer or
  offer id from the path;
- counts the request and observes its duration by method, route template and status (the
  template, never the raw path, so ids do not become label values: an unmatched path counts
  as "unmatched");
- writes one access line: method, path without its query string, route, status, duration;
- counts websockets open, by route.

Metrics are prometheus-client objects in this module's registry. With several API processes
(`hotline serve --workers N`) the command line sets PROMETHEUS_MULTIPROC_DIR before the workers
start, and prometheus-client's multiprocess mode sums the processes' files at scrape time.
"""

from __future__ import annotations

import logging
import re
import time
import uuid
from typing import Any

from prometheus_client import (
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    disable_created_metrics,
)
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from kernel.logs import request_context

access_log = logging.getLogger("hotline.access")

# The *_created series double the output and no dashboard reads them.
disable_created_metrics()
REGISTRY = CollectorRegistry(auto_describe=True)

REQUESTS = Counter(
    "hotline_http_requests",
    "HTTP requests answered, by method, route template and status code.",
    ("method", "route", "status"),
    registry=REGISTRY,
)
DURATION = Histogram(
    "hotline_http_request_duration_seconds",
    "Time from a request's arrival to the end of its response, by method, route template and status.",
    ("method", "route", "status"),
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0),
    registry=REGISTRY,
)
WEBSOCKETS = Gauge(
    "hotline_websockets_connected",
    "Websockets open now (consoles, dashboards), by route.",
    ("route",),
    multiprocess_mode="livesum",
    registry=REGISTRY,
)

_REQUEST_ID = re.compile(r"^[A-Za-z0-9._-]{1,64}$")
# Path parameters worth a log field; a transfer's path parameter is named transfer_id.
_LOGGED_IDS = ("call_id", "provider_call_id", "transfer_id", "offer_id")
UNMATCHED = "unmatched"


def _request_id(scope: Scope) -> str:
    for name, value in scope.get("headers", ()):
        if name == b"x-request-id":
            candidate = value.decode("latin-1")
            if _REQUEST_ID.match(candidate):
                return candidate
    return uuid.uuid4().hex[:16]


def route_template(scope: Scope) -> str:
    route = scope.get("route")
    path = getattr(route, "path", None)
    return str(path) if path else UNMATCHED


class ObserveMiddleware:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        kind = scope["type"]
        if kind not in ("http", "websocket"):
            await self.app(scope, receive, send)
            return
        rid = _request_id(scope)
        ctx: dict[str, Any] = {"request_id": rid}
        reset = request_context.set(ctx)
        started = time.perf_counter()
        state = {"status": 500, "accepted": False}
        ws_route = ""

        async def observed_send(message: Message) -> None:
            nonlocal ws_route
            mtype = message["type"]
            if mtype == "http.response.start":
                state["status"] = message["status"]
                message["headers"] = [*message.get("headers", ()), (b"x-request-id", rid.encode())]
            elif mtype == "websocket.accept":
                state["accepted"], state["status"] = True, 101
                ws_route = route_template(scope)
                WEBSOCKETS.labels(ws_route).inc()
            elif mtype == "websocket.close" and not state["accepted"]:
                state["status"] = 403
            await send(message)

        try:
            await self.app(scope, receive, observed_send)
        finally:
            elapsed = time.perf_counter() - started
            route = route_template(scope)
            status = int(state["status"])
            ctx["route"] = route
            ctx["status"] = status
            ctx["duration_ms"] = round(elapsed * 1000, 2)
            for name in _LOGGED_IDS:
                value = scope.get("path_params", {}).get(name)
                if value:
                    ctx[name] = str(value)
            method = scope.get("method", "WS") if kind == "http" else "WS"
            if kind == "http":
                REQUESTS.labels(method, route, str(status)).inc()
                DURATION.labels(method, route, str(status)).observe(elapsed)
            elif state["accepted"]:
                WEBSOCKETS.labels(ws_route).dec()
            access_log.info("%s %s %s", method, scope.get("path", ""), status)
            request_context.reset(reset)


def install(app: Any) -> None:
    """Wrap the app (outermost, so the figures include every other middleware and handler)."""
    app.add_middleware(ObserveMiddleware)
