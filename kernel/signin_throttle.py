"""Sign-in throttling: per account and per source address, with exponential back-off.

Every attempt is counted in Redis *before* the password is checked, in one script that also
refuses while a lock is running, so concurrent guesses cannot slip past the count. The attempt
that uses up the free ones, and each one after, locks its account (or address) for
base * 2^k seconds (k = 0, 1, 2, ...), capped; a locked attempt is refused with 429 and Retry-After without touching the password
hash. A successful sign-in clears its account's counter and gives its address back the
attempt it took; failures are forgotten after a quiet period (the counters' TTL).
"""

from __future__ import annotations

import hashlib
import math
from dataclasses import dataclass
from typing import Any

import redis

from kernel.settings import get_settings

_BEGIN = """
-- Each lock read once: a second PTTL a millisecond later would name the wrong lock.
local account_ms, address_ms = redis.call('PTTL', KEYS[2]), redis.call('PTTL', KEYS[4])
local now_locked = math.max(account_ms, address_ms)
if now_locked > 0 then
  local scope = 'address'
  if account_ms >= address_ms then scope = 'account' end
  return {now_locked, scope, 0, 0, 0, 0}
end
local memory, base_ms, cap_ms = tonumber(ARGV[1]), tonumber(ARGV[4]), tonumber(ARGV[5])
local out = {0, '', 0, 0, 0, 0}
for i, free in ipairs({tonumber(ARGV[2]), tonumber(ARGV[3])}) do
  local count_key, lock_key = KEYS[2 * i - 1], KEYS[2 * i]
  local n = redis.call('INCR', count_key)
  redis.call('EXPIRE', count_key, memory)
  out[2 + i] = n
  if n >= free then
    local ms = math.min(cap_ms, base_ms * 2 ^ (n - free))
    redis.call('SET', lock_key, n, 'PX', math.floor(ms))
    out[4 + i] = math.floor(ms)
  end
end
return out
"""

_SUCCEED = """
redis.call('DEL', KEYS[1], KEYS[2])
if tonumber(redis.call('GET', KEYS[3]) or '0') > 0 then redis.call('DECR', KEYS[3]) end
if ARGV[1] == '1' then redis.call('DEL', KEYS[4]) end
return 1
"""


@dataclass(frozen=True)
class Refused:
    """The attempt was not tried: a lock is running."""

    retry_after_s: int
    scope: str


@dataclass(frozen=True)
class Attempt:
    """A counted attempt, and the locks it started (milliseconds; 0 if none)."""

    keys: list[str]
    account_failures: int
    address_failures: int
    account_lock_ms: int
    address_lock_ms: int


def _digest(value: str) -> str:
    return hashlib.sha256(value.encode("utf-8", "surrogatepass")).hexdigest()[:32]


def _keys(username: str, address: str) -> list[str]:
    account, addr = _digest(username), _digest(address)
    return [
        f"signin:fails:account:{account}",
        f"signin:lock:account:{account}",
        f"signin:fails:address:{addr}",
        f"signin:lock:address:{addr}",
    ]


def begin(r: redis.Redis, username: str, address: str) -> Attempt | Refused:
    s = get_settings()
    keys = _keys(username, address)
    res: list[Any] = r.eval(
        _BEGIN,
        4,
        *keys,
        s.signin_failure_memory_s,
        s.signin_account_free_attempts,
        s.signin_address_free_attempts,
        int(s.signin_backoff_base_s * 1000),
        int(s.signin_backoff_max_s * 1000),
    )
    if int(res[0]) > 0:
        return Refused(retry_after_s=max(1, math.ceil(int(res[0]) / 1000)), scope=str(res[1]))
    return Attempt(keys, int(res[2]), int(res[3]), int(res[4]), int(res[5]))


def succeeded(r: redis.Redis, attempt: Attempt) -> None:
    """The password was right: the account starts afresh; the address gets its attempt back."""
    r.eval(_SUCCEED, 4, *attempt.keys, "1" if attempt.address_lock_ms else "0")
