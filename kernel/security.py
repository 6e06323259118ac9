"""Bearer tokens (JWT) and webhook signatures."""

from __future__ import annotations

import hashlib
import hmac
import time

import jwt

from kernel.accounts import Principal, Role, User
from kernel.settings import get_settings


def issue_token(user: User) -> str:
    s = get_settings()
    now = int(time.time())
    claims = {
        "sub": user.id,
        "usr": user.username,
        "role": user.role,
        "hid": user.hospital_id,
        "iat": now,
        "exp": now + s.jwt_ttl_s,
    }
    return jwt.encode(claims, s.jwt_secret, algorithm="HS256")


def principal_from_token(token: str) -> Principal | None:
    try:
        claims = jwt.decode(token, get_settings().jwt_secret, algorithms=["HS256"])
        return Principal(
            id=claims["sub"],
            role=Role(claims["role"]),
            username=claims["usr"],
            hospital_id=claims.get("hid"),
        )
    except (jwt.PyJWTError, KeyError, ValueError):
        return None


def sign_body(body: bytes, secret: str | None = None) -> str:
    key = (secret or get_settings().telephony_secret).encode()
    return "sha256=" + hmac.new(key, body, hashlib.sha256).hexdigest()


def signature_valid(body: bytes, header: str | None) -> bool:
    if not header:
        return False
    return hmac.compare_digest(sign_body(body), header.strip())
