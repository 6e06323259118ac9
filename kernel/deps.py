"""FastAPI dependencies shared by every router: the unit of work, Redis, and who is calling."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Annotated, Any, TypeVar

import anyio
import anyio.to_thread
import redis
from fastapi import Depends
from fastapi.exceptions import RequestValidationError
from fastapi.security import APIKeyHeader, OAuth2PasswordBearer
from pydantic import BaseModel, ValidationError
from sqlalchemy.orm import Session

from kernel import accounts
from kernel.accounts import Principal, Role
from kernel.db import unit_of_work
from kernel.errors import Forbidden, Unauthorized
from kernel.redisconn import get_redis
from kernel.security import principal_from_token
from kernel.settings import get_settings


def db_session() -> Iterator[Session]:
    """The request's unit of work: committed when the handler returns, rolled back on error."""
    with unit_of_work() as session:
        yield session


# "function" scope: the commit runs before the response is sent, so a client is never
# told "done" about work that then fails to commit.
SessionDep = Annotated[Session, Depends(db_session, scope="function")]


async def redis_client() -> redis.Redis:
    """The process's Redis client, handed over on the event loop (no worker-thread hop).

    The first call may start the embedded server; the app's startup makes that call.
    """
    return get_redis()


RedisDep = Annotated[redis.Redis, Depends(redis_client)]

M = TypeVar("M", bound=BaseModel)
T = TypeVar("T")

_bearer = OAuth2PasswordBearer(tokenUrl="/api/v1/auth/token", auto_error=False)
# A security scheme (not a header parameter), so the description says what it is.
_api_key = APIKeyHeader(name="X-API-Key", auto_error=False)


def principal_for_token(session: Session, token: str) -> Principal | None:
    principal = principal_from_token(token)
    if principal is None:
        return None
    user = session.get(accounts.User, principal.id)
    if user is None or not user.active or user.role != principal.role.value:
        return None
    return principal


# The credentials as sent (no database read): for a route that checks them itself.
BearerToken = Annotated[str | None, Depends(_bearer)]
ApiKeyHeader = Annotated[str | None, Depends(_api_key)]


def current_principal(
    session: SessionDep, token: BearerToken, x_api_key: ApiKeyHeader = None
) -> Principal:
    if x_api_key:
        principal = accounts.principal_for_api_key(session, x_api_key)
        if principal is None:
            raise Unauthorized("invalid API key", code="invalid_api_key")
        return principal
    if not token:
        raise Unauthorized("sign in first: send a bearer token", code="not_authenticated")
    principal = principal_for_token(session, token)
    if principal is None:
        raise Unauthorized("token invalid or expired", code="invalid_token")
    return principal


CurrentPrincipal = Annotated[Principal, Depends(current_principal)]


def require_roles(*roles: Role) -> Callable[[Principal], Principal]:
    """Allow the given roles (admins always pass)."""
    allowed = {*roles, Role.ADMIN}

    def check(principal: CurrentPrincipal) -> Principal:
        if principal.role not in allowed:
            raise Forbidden(
                f"requires role {' or '.join(sorted(r.value for r in allowed))}",
                code="role_required",
            )
        return principal

    return check


_hot_threads: anyio.CapacityLimiter | None = None


async def in_hot_thread(fn: Callable[..., T], *args: Any) -> T:
    """Run fn(*args) in a worker thread, a few at once for the hot routes.

    Arrivals and bed updates each make exactly one such hop, in a pool of their own
    (HOTLINE_HOT_ROUTE_THREADS, 8), so a burst of them neither waits behind the other routes'
    threads nor takes theirs. Fewer threads than the default 40 convoy less on the GIL
    and the Redis pool's lock: on wrk -c50, 8 threads answered arrivals faster (p99 about
    half) than 40.
    """
    global _hot_threads
    if _hot_threads is None:
        _hot_threads = anyio.CapacityLimiter(get_settings().hot_route_threads)
    return await anyio.to_thread.run_sync(fn, *args, limiter=_hot_threads)


def parse_body(model: type[M], body: bytes) -> M:
    """A JSON body read by the route itself, refused like FastAPI refuses a body (422)."""
    try:
        return model.model_validate_json(body or b"null")
    except ValidationError as exc:
        raise RequestValidationError(
            [{**e, "loc": ("body", *e["loc"])} for e in exc.errors(include_url=False)]
        ) from None


def role(*roles: Role) -> type[Principal]:
    """`principal: role(Role.DOCTOR)` in a route signature declares who may call it."""
    return Annotated[Principal, Depends(require_roles(*roles))]  # type: ignore[return-value]
