"""Live pushes inside one API process: one Redis pub/sub connection fanned out to local websockets."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
from collections import defaultdict
from collections.abc import Callable
from typing import Any

from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError

from kernel.errors import outages
from kernel.redisconn import get_async_redis

log = logging.getLogger(__name__)


class Hub:
    """Subscribes to whole channel families once, so any number of consoles costs one connection."""

    def __init__(self, patterns: tuple[str, ...]):
        self.patterns = patterns
        self.listeners: dict[str, set[asyncio.Queue[dict[str, Any]]]] = defaultdict(set)
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="live-hub")

    async def stop(self) -> None:
        if self._task:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._task

    def listen(self, channel: str) -> asyncio.Queue[dict[str, Any]]:
        q: asyncio.Queue[dict[str, Any]] = asyncio.Queue(maxsize=1000)
        self.listeners[channel].add(q)
        return q

    def forget(self, channel: str, q: asyncio.Queue[dict[str, Any]]) -> None:
        self.listeners[channel].discard(q)
        if not self.listeners[channel]:
            self.listeners.pop(channel, None)

    def deliver(self, channel: str, message: dict[str, Any]) -> None:
        for q in list(self.listeners.get(channel, ())):
            with contextlib.suppress(asyncio.QueueFull):
                q.put_nowait(message)

    async def _run(self) -> None:
        while True:
            try:
                r = get_async_redis()
                pubsub = r.pubsub()
                await pubsub.psubscribe(*self.patterns)
                async for msg in pubsub.listen():
                    if msg.get("type") != "pmessage":
                        continue
                    try:
                        data = json.loads(msg["data"])
                    except ValueError:
                        continue
                    self.deliver(msg["channel"], data)
            except asyncio.CancelledError:
                raise
            except (RedisConnectionError, RedisTimeoutError, OSError) as exc:
                # Redis unreachable: one line per outage (kernel.errors.outages), not a
                # traceback per retry; resubscribe once it answers.
                outages.failed("redis", exc)
                await asyncio.sleep(0.5)
            except Exception:
                # Redis restarted: resubscribe; consoles resynchronise from their hello.
                log.exception("live hub lost Redis; reconnecting")
                await asyncio.sleep(0.5)


class BranchFigures:
    """Live queue figures shared by every console of this process, read from Redis once a second.

    Without it each console would read Redis every second: a few hundred consoles would
    cost the API process a few hundred round trips a second for the same numbers.
    """

    def __init__(self, read: Callable[[list[str]], dict[str, dict[str, Any]]], ttl_s: float):
        self.read = read
        self.ttl_s = ttl_s
        self._at = 0.0
        self._data: dict[str, dict[str, Any]] = {}
        self._lock = asyncio.Lock()
        # One text per branch set and refresh, however many consoles send it.
        self._texts: dict[tuple[str, ...], tuple[float, str]] = {}

    async def get(self, branches: list[str]) -> dict[str, dict[str, Any]]:
        async with self._lock:
            stale = time.monotonic() - self._at > self.ttl_s
            if stale or not set(branches) <= set(self._data):
                digits = sorted(set(self._data) | set(branches))
                self._data = await asyncio.to_thread(self.read, digits)
                self._at = time.monotonic()
            return {b: self._data[b] for b in branches if b in self._data}

    async def message(self, branches: list[str]) -> str:
        """The queue message for consoles of these branches, serialised once per refresh."""
        data = await self.get(branches)
        key = tuple(branches)
        cached = self._texts.get(key)
        if cached is None or cached[0] != self._at:
            cached = (self._at, json.dumps({"type": "queue", "branches": data}))
            self._texts[key] = cached
        return cached[1]


class Heartbeats:
    """Console heartbeats of this process, written to Redis together every `every_s` seconds.

    A console heart-beats every 3 s; thousands of consoles made one thread hop and two
    Redis round trips each (TIME, ZADD). Here a heartbeat costs a set insertion, and one
    ZADD XX per flush carries all of them. The delay (under a second) is nothing against
    the 10 s after which the sweep takes a silent console out of routing.
    """

    def __init__(self, write: Callable[[list[str]], None], every_s: float):
        self.write = write
        self.every_s = every_s
        self._pending: set[str] = set()

    def beat(self, doctor_id: str) -> None:
        self._pending.add(doctor_id)

    async def run(self) -> None:
        while True:
            await asyncio.sleep(self.every_s)
            await self.flush()

    async def flush(self) -> None:
        if not self._pending:
            return
        batch, self._pending = self._pending, set()
        try:
            await asyncio.to_thread(self.write, sorted(batch))
        except (RedisConnectionError, RedisTimeoutError, OSError) as exc:
            # Kept for the next flush: the consoles are alive, Redis was not.
            self._pending |= batch
            outages.failed("redis", exc)
