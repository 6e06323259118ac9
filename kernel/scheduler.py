"""The scheduler every worker runs: one at a time holds a short Redis lease and queues what is due.

Each ``hotline worker`` starts a :class:`Scheduler` thread. The threads compete for one lease
key (``SET NX PX``); the holder renews it every tick and asks the database what is due
(``kernel/duties.py``). The lease lives a few seconds, so when its holder is killed another
worker takes over as soon as it lapses, and at once after Redis is flushed (the key went with
everything else). A clean stop releases the lease, so the next worker does not even wait.

Outages are waited out: while Redis or the database does not answer, the thread logs one line,
retries with back-off, and logs once more when the dependency is back.
"""

from __future__ import annotations

import contextlib
import logging
import os
import socket
import threading
import time
import uuid
from collections.abc import Callable
from datetime import datetime

import redis
from sqlalchemy import Engine
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session, sessionmaker

from kernel.db import make_engine, utcnow
from kernel.redisconn import get_redis
from kernel.settings import get_settings

log = logging.getLogger(__name__)

LEASE_KEY = "scheduler:lease"
MAX_BACKOFF_S = 5.0

# The worker forks a process per job while this thread may be inside a tick. A child that
# inherits an open database connection (or SQLite's record of the locks this process holds)
# can corrupt the parent's connection or wait forever on a lock nobody holds. So a fork waits
# until no tick is running, and a tick leaves no connection open behind it.
_NO_FORK_DURING_TICK = threading.Lock()
os.register_at_fork(
    before=_NO_FORK_DURING_TICK.acquire,
    after_in_parent=_NO_FORK_DURING_TICK.release,
    after_in_child=_NO_FORK_DURING_TICK.release,
)

# Renew only while we still hold it; release only our own lease.
_RENEW = """
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('PEXPIRE', KEYS[1], ARGV[2])
end
return 0
"""
_RELEASE = """
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('DEL', KEYS[1])
end
return 0
"""

Tick = Callable[[Session, datetime], int]


class Lease:
    """The scheduling role: a Redis key holding the holder's name, living ``ttl_s``."""

    def __init__(self, r: redis.Redis, ttl_s: float, holder: str | None = None) -> None:
        self.r = r
        self.ttl_ms = int(ttl_s * 1000)
        self.holder = holder or f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"
        self.held = False

    def hold(self) -> bool:
        """Take the lease if free, or renew it if ours; whether we hold it now."""
        if self.held and self.r.eval(_RENEW, 1, LEASE_KEY, self.holder, self.ttl_ms):
            return True
        self.held = bool(self.r.set(LEASE_KEY, self.holder, nx=True, px=self.ttl_ms))
        return self.held

    def release(self) -> None:
        if self.held:
            self.r.eval(_RELEASE, 1, LEASE_KEY, self.holder)
        self.held = False


class _Outages:
    """One log line when a dependency goes away, one when it is back."""

    def __init__(self, on_back: Callable[[str], None] | None = None) -> None:
        self.down_since: dict[str, float] = {}
        self.on_back = on_back

    def failed(self, what: str, exc: BaseException) -> float:
        if what not in self.down_since:
            self.down_since[what] = time.monotonic()
            log.warning("scheduler: %s unreachable (%s); waiting and retrying", what, exc)
        down_for = time.monotonic() - self.down_since[what]
        return min(MAX_BACKOFF_S, 0.25 * 2 ** min(down_for, 10))

    def ok(self, *which: str) -> None:
        for what in which or tuple(self.down_since):
            since = self.down_since.pop(what, None)
            if since is not None:
                log.warning("scheduler: %s back after %.1f s", what, time.monotonic() - since)
                if self.on_back is not None:
                    self.on_back(what)


class Scheduler:
    """The loop a worker runs in a thread: hold the lease, and while holding it, tick."""

    def __init__(
        self,
        tick: Tick,
        *,
        engine: Engine | None = None,
        on_back: Callable[[str], None] | None = None,
    ) -> None:
        s = get_settings()
        self.tick = tick
        self.interval_s = s.scheduler_tick_s
        self.lease = Lease(get_redis(), s.scheduler_lease_s)
        # Its own engine, emptied after every tick (see _NO_FORK_DURING_TICK).
        self.engine = engine or make_engine(s)
        self.sessions = sessionmaker(self.engine, expire_on_commit=False)
        self.stopping = threading.Event()
        self.outages = _Outages(on_back)
        self.thread: threading.Thread | None = None
        self.ticks = 0

    def start(self) -> Scheduler:
        self.thread = threading.Thread(target=self.run, name="scheduler", daemon=True)
        self.thread.start()
        return self

    def stop(self, timeout: float = 10.0) -> None:
        self.stopping.set()
        if self.thread is not None:
            self.thread.join(timeout)

    def run(self) -> None:
        try:
            while not self.stopping.is_set():
                self.stopping.wait(self.step())
        finally:
            with contextlib.suppress(redis.RedisError):  # else it lapses on its own
                self.lease.release()
            self.engine.dispose()

    def step(self) -> float:
        """One pass; returns how long to wait before the next."""
        with _NO_FORK_DURING_TICK:
            try:
                return self._step()
            finally:
                self.engine.dispose()  # no connection outlives the tick

    def _step(self) -> float:
        was_held = self.lease.held
        try:
            held = self.lease.hold()
        except redis.RedisError as exc:
            self.lease.held = False
            return self.outages.failed("Redis", exc)
        if held != was_held:
            # Taking the role is routine (start-up, a peer's clean stop); losing it while
            # running means the lease could not be renewed in time: worth a look.
            log.log(
                logging.INFO if held else logging.WARNING,
                "scheduler: %s the scheduling role (%s)",
                "took" if held else "lost",
                self.lease.holder,
            )
        if not held:
            self.outages.ok("Redis")
            return self.interval_s
        try:
            with self.sessions() as session, session.begin():
                self.tick(session, utcnow())
        except redis.RedisError as exc:
            return self.outages.failed("Redis", exc)
        except DBAPIError as exc:
            return self.outages.failed("the database", exc)
        except Exception:
            log.exception("scheduler: a tick failed; the next one retries")
            return self.interval_s
        self.ticks += 1
        self.outages.ok()
        return self.interval_s
