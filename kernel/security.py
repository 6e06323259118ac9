"""Bearer tokens (JWT) and webhook signatures."""

from __future__ import annotations

import hashlib
import hmac
import time

import jwt
import redis

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


# --------------------------------------------------------------------------- webhook signatures
#
# The gateway signs "<unix seconds>\n<METHOD>\n<path with its query string>\n" followed by
# the raw body with HMAC-SHA256 (keyed with HOTLINE_TELEPHONY_SECRET). The time bounds how
# long a captured request stays usable; the replay cache (Redis) refuses the same signature
# twice inside that window, so a captured request cannot be sent again at all.

SIGNATURE_HEADER = "X-Hotline-Signature"
TIMESTAMP_HEADER = "X-Hotline-Timestamp"
SIGNATURE_WINDOW_S = 300


def webhook_signature(
    timestamp: int, method: str, target: str, body: bytes, secret: str | None = None
) -> str:
    key = (secret or get_settings().telephony_secret).encode()
    signed = f"{timestamp}\n{method.upper()}\n{target}\n".encode() + body
    return "sha256=" + hmac.new(key, signed, hashlib.sha256).hexdigest()


def signed_headers(
    method: str, target: str, body: bytes, *, secret: str | None = None, now: float | None = None
) -> dict[str, str]:
    """The two headers that sign a request to `target` (path and query, as sent)."""
    ts = int(time.time() if now is None else now)
    return {
        TIMESTAMP_HEADER: str(ts),
        SIGNATURE_HEADER: webhook_signature(ts, method, target, body, secret),
    }


def signature_problem(
    method: str, target: str, body: bytes, timestamp: str | None, signature: str | None
) -> str | None:
    """Why a signed request is not authentic (None if it is); the replay check is separate."""
    if not timestamp or not signature:
        return f"{TIMESTAMP_HEADER} and {SIGNATURE_HEADER} are required"
    if not timestamp.isascii() or not timestamp.isdigit() or len(timestamp) > 12:
        return f"{TIMESTAMP_HEADER} must be whole Unix seconds"
    if abs(time.time() - int(timestamp)) > SIGNATURE_WINDOW_S:
        return f"{TIMESTAMP_HEADER} is more than {SIGNATURE_WINDOW_S} s from the server's clock"
    expected = webhook_signature(int(timestamp), method, target, body)
    if not hmac.compare_digest(expected.encode(), signature.strip().encode("utf-8", "replace")):
        return f"{SIGNATURE_HEADER} does not match the request"
    return None


# A used signature is remembered this long: past it, its timestamp is refused anyway.
REPLAY_MEMORY_S = 2 * SIGNATURE_WINDOW_S


def replay_key(signature: str) -> str:
    return "webhook-signature:" + hashlib.sha256(signature.encode()).hexdigest()


def first_use_of(r: redis.Redis, signature: str) -> bool:
    """Remember a signature for the window; False if it was already used (a replay)."""
    return bool(r.set(replay_key(signature), "1", nx=True, ex=REPLAY_MEMORY_S))


def first_uses(r: redis.Redis, signatures: list[str]) -> list[bool]:
    """first_use_of for many signatures, in one round trip."""
    pipe = r.pipeline(transaction=False)
    for signature in signatures:
        pipe.set(replay_key(signature), "1", nx=True, ex=REPLAY_MEMORY_S)
    return [bool(x) for x in pipe.execute()]
