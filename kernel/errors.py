"""Domain errors that carry their HTTP status, and the handlers that render every error as JSON."""

from __future__ import annotations

import logging
from typing import Any, ClassVar

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError
from sqlalchemy.exc import DBAPIError, OperationalError
from starlette.exceptions import HTTPException as StarletteHTTPException

log = logging.getLogger(__name__)


class DomainError(Exception):
    status_code = 400
    code = "bad_request"

    def __init__(
        self, detail: Any = None, *, code: str | None = None, status_code: int | None = None
    ):
        super().__init__(detail)
        self.detail = detail if detail is not None else self.code.replace("_", " ")
        if code:
            self.code = code
        if status_code:
            self.status_code = status_code


class NotFound(DomainError):
    status_code = 404
    code = "not_found"


class Conflict(DomainError):
    status_code = 409
    code = "conflict"


class Forbidden(DomainError):
    status_code = 403
    code = "forbidden"


class Unauthorized(DomainError):
    status_code = 401
    code = "unauthorized"


class InvalidInput(DomainError):
    """A value that parses but breaks a rule; names the field and the rule."""

    status_code = 422
    code = "invalid_input"

    def __init__(self, field: str, rule: str):
        super().__init__([{"field": field, "rule": rule}])
        self.field = field
        self.rule = rule


class FieldRuleError(ValueError):
    """A value the pure rule modules (scoring, staffing, epidemic levels) cannot accept.

    Raised where no HTTP is in sight; rendered like InvalidInput (422, the field and the
    rule) if it ever reaches a route unconverted.
    """

    status_code: ClassVar[int] = 422
    code: ClassVar[str] = "invalid_input"

    def __init__(self, field: str, value: object, rule: str) -> None:
        super().__init__(f"{field}={value!r}: {rule}")
        self.field = field
        self.value = value
        self.rule = rule

    @property
    def detail(self) -> list[dict[str, str]]:
        return [{"field": self.field, "rule": self.rule}]


def _field_name(loc: tuple[Any, ...]) -> str:
    parts = [str(p) for p in loc if p not in ("body", "query", "path", "header", "form")]
    return ".".join(parts) or ".".join(str(p) for p in loc)


class Outages:
    """One log line when a dependency goes away and one when it answers again.

    A dead database or Redis makes every request fail the same way; a traceback per
    request would bury the one line an operator needs.
    """

    def __init__(self) -> None:
        self.down: set[str] = set()

    def failed(self, dependency: str, exc: BaseException) -> None:
        if dependency not in self.down:
            self.down.add(dependency)
            log.error("%s unreachable: %s: %s", dependency, type(exc).__name__, exc)

    def answered(self, dependency: str) -> None:
        if dependency in self.down:
            self.down.discard(dependency)
            log.warning("%s answers again", dependency)


outages = Outages()
RETRY_AFTER_S = "2"


def unavailable(dependency: str) -> JSONResponse:
    """The 503 a caller gets while a dependency is unreachable: nothing was done; retry."""
    return JSONResponse(
        {
            "error": "dependency_unavailable",
            "detail": {"dependency": dependency, "rule": "unreachable now; retry shortly"},
        },
        status_code=503,
        headers={"Retry-After": RETRY_AFTER_S},
    )


def install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(RedisConnectionError)
    @app.exception_handler(RedisTimeoutError)
    async def _redis_down(_: Request, exc: Exception) -> JSONResponse:
        outages.failed("redis", exc)
        return unavailable("redis")

    @app.exception_handler(DBAPIError)
    async def _database_error(request: Request, exc: DBAPIError) -> JSONResponse:
        if not exc.connection_invalidated and not isinstance(exc, OperationalError):
            raise exc  # a bug, not an outage: the usual 500 and its traceback
        outages.failed("database", exc)
        return unavailable("database")

    @app.exception_handler(DomainError)
    async def _domain(_: Request, exc: DomainError) -> JSONResponse:
        headers = {"WWW-Authenticate": "Bearer"} if exc.status_code == 401 else None
        return JSONResponse(
            {"error": exc.code, "detail": exc.detail}, status_code=exc.status_code, headers=headers
        )

    @app.exception_handler(FieldRuleError)
    async def _field_rule(_: Request, exc: FieldRuleError) -> JSONResponse:
        return JSONResponse({"error": exc.code, "detail": exc.detail}, status_code=422)

    @app.exception_handler(RequestValidationError)
    async def _validation(_: Request, exc: RequestValidationError) -> JSONResponse:
        problems = []
        for err in exc.errors():
            loc = tuple(err.get("loc", ()))
            problems.append(
                {
                    "field": _field_name(loc) if err.get("type") != "json_invalid" else "body",
                    "rule": err.get("msg", "invalid"),
                    "type": err.get("type"),
                    "location": loc[0] if loc else None,
                }
            )
        return JSONResponse({"error": "invalid_request", "detail": problems}, status_code=422)

    @app.exception_handler(StarletteHTTPException)
    async def _http(_: Request, exc: StarletteHTTPException) -> JSONResponse:
        code = {401: "unauthorized", 403: "forbidden", 404: "not_found", 405: "method_not_allowed"}
        return JSONResponse(
            {"error": code.get(exc.status_code, "http_error"), "detail": exc.detail},
            status_code=exc.status_code,
            headers=getattr(exc, "headers", None),
        )
