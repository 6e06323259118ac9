"""Accounts, roles and hospital API keys: storage and the rules for creating and checking them."""

from __future__ import annotations

import enum
import hashlib
import hmac
import secrets
from dataclasses import dataclass
from datetime import datetime

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import Boolean, ForeignKey, String, select
from sqlalchemy.orm import Mapped, Session, mapped_column

from kernel.db import ID, Base, new_id, utcnow
from kernel.errors import Conflict, InvalidInput


class Role(enum.StrEnum):
    DOCTOR = "doctor"
    DISPATCHER = "dispatcher"
    HOSPITAL = "hospital"
    SUPERVISOR = "supervisor"
    ADMIN = "admin"


class User(Base):
    __tablename__ = "users"

    id: Mapped[str] = mapped_column(ID, primary_key=True, default=new_id)
    username: Mapped[str] = mapped_column(String(64), unique=True)
    password_hash: Mapped[str] = mapped_column(String(255))
    role: Mapped[str] = mapped_column(String(16))
    # Hospital staff are scoped to one hospital; dispatch owns the hospitals
    # table, so the kernel keeps the id without a foreign key.
    hospital_id: Mapped[str | None] = mapped_column(String(32))
    display_name: Mapped[str | None] = mapped_column(String(128))
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class ApiKey(Base):
    __tablename__ = "api_keys"

    id: Mapped[str] = mapped_column(ID, primary_key=True, default=new_id)
    prefix: Mapped[str] = mapped_column(String(16), unique=True)
    key_hash: Mapped[str] = mapped_column(String(64))
    hospital_id: Mapped[str] = mapped_column(String(32))
    name: Mapped[str] = mapped_column(String(128))
    created_by: Mapped[str | None] = mapped_column(ForeignKey("users.id"))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    revoked_at: Mapped[datetime | None]


@dataclass(frozen=True)
class Principal:
    """Who is calling: a signed-in user or a hospital system's API key."""

    id: str
    role: Role
    username: str
    hospital_id: str | None = None
    via_api_key: bool = False

    @property
    def actor(self) -> str:
        return f"apikey:{self.id}" if self.via_api_key else f"user:{self.username}"


_hasher = PasswordHasher()
# A hash of a random password, so unknown usernames cost as much as wrong passwords.
_DUMMY_HASH = _hasher.hash(secrets.token_hex(16))


def hash_password(password: str) -> str:
    return _hasher.hash(password)


def create_user(
    session: Session,
    *,
    username: str,
    password: str,
    role: str,
    hospital_id: str | None = None,
    display_name: str | None = None,
) -> User:
    username = username.strip()
    if not username or len(username) > 64:
        raise InvalidInput("username", "must be 1-64 characters")
    if len(password) < 8:
        raise InvalidInput("password", "must be at least 8 characters")
    try:
        role_ = Role(role)
    except ValueError:
        raise InvalidInput("role", f"must be one of {', '.join(r.value for r in Role)}") from None
    if role_ is Role.HOSPITAL and not hospital_id:
        raise InvalidInput("hospital_id", "hospital staff must be scoped to a hospital")
    if role_ is not Role.HOSPITAL and hospital_id:
        raise InvalidInput("hospital_id", "only hospital staff are scoped to a hospital")
    if session.scalar(select(User.id).where(User.username == username)):
        raise Conflict(f"username {username!r} is taken", code="username_taken")
    user = User(
        username=username,
        password_hash=hash_password(password),
        role=role_.value,
        hospital_id=hospital_id,
        display_name=display_name or username,
    )
    session.add(user)
    session.flush()
    return user


def authenticate(session: Session, *, username: str, password: str) -> User | None:
    user = session.scalar(select(User).where(User.username == username, User.active.is_(True)))
    try:
        _hasher.verify(user.password_hash if user else _DUMMY_HASH, password)
    except (VerificationError, InvalidHashError):
        return None
    return user


def _key_digest(secret: str) -> str:
    # API keys carry 256 bits of randomness, so a fast hash is as safe as a
    # slow one and keeps every hospital-system request cheap.
    return hashlib.sha256(secret.encode()).hexdigest()


def create_api_key(
    session: Session, *, hospital_id: str, name: str, created_by: str | None = None
) -> tuple[ApiKey, str]:
    """Create a key; the plain key is returned once and only its hash is stored."""
    prefix = secrets.token_hex(6)
    secret = secrets.token_urlsafe(32)
    key = ApiKey(
        prefix=prefix,
        key_hash=_key_digest(secret),
        hospital_id=hospital_id,
        name=name,
        created_by=created_by,
    )
    session.add(key)
    session.flush()
    return key, f"hk_{prefix}_{secret}"


def principal_for_api_key(session: Session, plain: str) -> Principal | None:
    return principals_for_api_keys(session, [plain])[plain]


def principals_for_api_keys(session: Session, plains: list[str]) -> dict[str, Principal | None]:
    """Each plain key's principal (None: unknown, revoked or wrong), in one query for all."""
    parsed = {plain: plain.split("_", 2) for plain in plains}
    parsed = {k: parts for k, parts in parsed.items() if len(parts) == 3 and parts[0] == "hk"}
    prefixes = {parts[1] for parts in parsed.values()}
    keys = (
        {k.prefix: k for k in session.scalars(select(ApiKey).where(ApiKey.prefix.in_(prefixes)))}
        if prefixes
        else {}
    )
    out: dict[str, Principal | None] = dict.fromkeys(plains)
    for plain, (_, prefix, secret) in parsed.items():
        key = keys.get(prefix)
        if key is None or key.revoked_at is not None:
            continue
        if not hmac.compare_digest(key.key_hash, _key_digest(secret)):
            continue
        out[plain] = Principal(
            id=key.id,
            role=Role.HOSPITAL,
            username=key.name,
            hospital_id=key.hospital_id,
            via_api_key=True,
        )
    return out
