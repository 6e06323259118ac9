"""Sign-in (OAuth2 password flow), who-am-I, and admin management of accounts and API keys."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends
from fastapi.security import OAuth2PasswordRequestForm
from pydantic import BaseModel, Field

from kernel import accounts, events
from kernel.accounts import Principal, Role
from kernel.deps import CurrentPrincipal, SessionDep, require_roles
from kernel.errors import Unauthorized
from kernel.security import issue_token

router = APIRouter(prefix="/api/v1", tags=["auth"])

AdminDep = Annotated[Principal, Depends(require_roles(Role.ADMIN))]


class TokenOut(BaseModel):
    access_token: str
    token_type: str = "bearer"
    role: str
    username: str


@router.post("/auth/token", response_model=TokenOut)
def sign_in(session: SessionDep, form: Annotated[OAuth2PasswordRequestForm, Depends()]) -> TokenOut:
    user = accounts.authenticate(session, username=form.username, password=form.password)
    if user is None:
        raise Unauthorized("wrong username or password", code="invalid_credentials")
    events.record(
        session,
        kind="user.signed_in",
        subject_type="user",
        subject_id=user.id,
        actor=f"user:{user.username}",
    )
    return TokenOut(access_token=issue_token(user), role=user.role, username=user.username)


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
