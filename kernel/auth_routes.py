"""Sign-in (OAuth2 password flow), who-am-I, and admin management of accounts and API keys."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Request
from fastapi.responses import JSONResponse
from fastapi.security import OAuth2PasswordRequestForm
from pydantic import BaseModel, Field
from sqlalchemy import select
from sqlalchemy.orm import Session

from kernel import accounts, events, signin_throttle
from kernel.accounts import Principal, Role
from kernel.deps import CurrentPrincipal, RedisDep, SessionDep, require_roles
from kernel.security import issue_token

router = APIRouter(prefix="/api/v1", tags=["auth"])

AdminDep = Annotated[Principal, Depends(require_roles(Role.ADMIN))]


class TokenOut(BaseModel):
    access_token: str
    token_type: str = "bearer"
    role: str
    username: str


@router.post(
    "/auth/token",
    response_model=TokenOut,
    responses={
        401: {"description": "wrong username or password"},
        429: {"description": "too many attempts: wait Retry-After seconds"},
    },
)
def sign_in(
    request: Request,
    session: SessionDep,
    r: RedisDep,
    form: Annotated[OAuth2PasswordRequestForm, Depends()],
) -> TokenOut | JSONResponse:
    # Refusals are answered, not raised: raising would roll back their audit events.
    address = request.client.host if request.client else "unknown"
    attempt = signin_throttle.begin(r, form.username, address)
    if isinstance(attempt, signin_throttle.Refused):
        return JSONResponse(
            {
                "error": "too_many_attempts",
                "detail": {
                    "field": attempt.scope,
                    "rule": f"too many sign-in attempts; retry in {attempt.retry_after_s} s",
                    "retry_after_s": attempt.retry_after_s,
                },
            },
            status_code=429,
            headers={"Retry-After": str(attempt.retry_after_s)},
        )
    user = accounts.authenticate(session, username=form.username, password=form.password)
    if user is None:
        _record_failure(session, form.username, address, attempt)
        return JSONResponse(
            {"error": "invalid_credentials", "detail": "wrong username or password"},
            status_code=401,
            headers={"WWW-Authenticate": "Bearer"},
        )
    signin_throttle.succeeded(r, attempt)
    events.record(
        session,
        kind="user.signed_in",
        subject_type="user",
        subject_id=user.id,
        actor=f"user:{user.username}",
    )
    return TokenOut(access_token=issue_token(user), role=user.role, username=user.username)


def _record_failure(
    session: Session, username: str, address: str, attempt: signin_throttle.Attempt
) -> None:
    """Audit a failed sign-in, and the locks it started; never the password."""
    known = session.scalar(select(accounts.User.id).where(accounts.User.username == username))
    subject_type, subject_id = ("user", known) if known else ("username", username[:64])
    events.record(
        session,
        kind="user.sign_in_failed",
        subject_type=subject_type,
        subject_id=subject_id,
        actor=f"address:{address}"[:64],
        data={"address": address, "username": username[:64], "failures": attempt.account_failures},
    )
    for scope, failures, lock_ms in (
        ("account", attempt.account_failures, attempt.account_lock_ms),
        ("address", attempt.address_failures, attempt.address_lock_ms),
    ):
        if lock_ms:
            events.record(
                session,
                kind="user.sign_in_throttled",
                subject_type=subject_type,
                subject_id=subject_id,
                actor=f"address:{address}"[:64],
                data={
                    "scope": scope,
                    "address": address,
                    "username": username[:64],
                    "failures": failures,
                    "locked_for_s": lock_ms / 1000,
                },
            )


class MeOut(BaseModel):
    id: str
    username: str
    role: str
    hospital_id: str | None


@router.get("/auth/me", response_model=MeOut)
def me(principal: CurrentPrincipal) -> MeOut:
    return MeOut(
        id=principal.id,
        username=principal.username,
        role=principal.role.value,
        hospital_id=principal.hospital_id,
    )


class UserIn(BaseModel):
    username: str = Field(min_length=1, max_length=64)
    password: str = Field(min_length=8, max_length=256)
    role: Role
    hospital_id: str | None = None
    display_name: str | None = Field(default=None, max_length=128)


class UserOut(BaseModel):
    id: str
    username: str
    role: str
    hospital_id: str | None


@router.post("/users", response_model=UserOut, status_code=201)
def create_user(session: SessionDep, admin: AdminDep, body: UserIn) -> UserOut:
    user = accounts.create_user(
        session,
        username=body.username,
        password=body.password,
        role=body.role.value,
        hospital_id=body.hospital_id,
        display_name=body.display_name,
    )
    events.record(
        session,
        kind="user.created",
        subject_type="user",
        subject_id=user.id,
        actor=admin.actor,
        data={"username": user.username, "role": user.role},
    )
    return UserOut(id=user.id, username=user.username, role=user.role, hospital_id=user.hospital_id)


class ApiKeyIn(BaseModel):
    hospital_id: str = Field(min_length=1, max_length=32)
    name: str = Field(min_length=1, max_length=128)


class ApiKeyOut(BaseModel):
    id: str
    hospital_id: str
    name: str
    api_key: str = Field(description="shown once; only its hash is stored")


@router.post("/api-keys", response_model=ApiKeyOut, status_code=201)
def create_api_key(session: SessionDep, admin: AdminDep, body: ApiKeyIn) -> ApiKeyOut:
    key, plain = accounts.create_api_key(
        session, hospital_id=body.hospital_id, name=body.name, created_by=admin.id
    )
    events.record(
        session,
        kind="api_key.created",
        subject_type="api_key",
        subject_id=key.id,
        actor=admin.actor,
        data={"hospital_id": key.hospital_id, "name": key.name},
    )
    return ApiKeyOut(id=key.id, hospital_id=key.hospital_id, name=key.name, api_key=plain)
