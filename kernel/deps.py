"""FastAPI dependencies shared by every router: the unit of work, Redis, and who is calling."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Annotated

import redis
from fastapi import Depends
from fastapi.security import APIKeyHeader, OAuth2PasswordBearer
from sqlalchemy.orm import Session

from kernel import accounts
from kernel.accounts import Principal, Role
from kernel.db import unit_of_work
from kernel.errors import Forbidden, Unauthorized
from kernel.redisconn import get_redis
from kernel.security import principal_from_token


def db_session() -> Iterator[Session]:
    """The request's unit of work: committed when the handler returns, rolled back on error."""
    with unit_of_work() as session:
        yield session


# "function" scope: the commit runs before the response is sent, so a client is never
# told "done" about work that then fails to commit.
SessionDep = Annotated[Session, Depends(db_session, scope="function")]
RedisDep = Annotated[redis.Redis, Depends(get_redis)]

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


def current_principal(
    session: SessionDep,
    token: Annotated[str | None, Depends(_bearer)],
    x_api_key: Annotated[str | None, Depends(_api_key)] = None,
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


def role(*roles: Role) -> type[Principal]:
    """`principal: role(Role.DOCTOR)` in a route signature declares who may call it."""
    return Annotated[Principal, Depends(require_roles(*roles))]  # type: ignore[return-value]
