"""Live pushes inside one API process: one Redis pub/sub connection fanned out to local websockets."""

from __future__ import annotations

import asyncio
import contextlib
import fnmatch
import json
import logging
import time
from collections import defaultdict, deque
from collections.abc import Awaitable, Callable
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
        self.listeners: dict[str, set[Callable[[dict[str, Any]], None]]] = defaultdict(set)
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="live-hub")

    async def stop(self) -> None:
        if self._task:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._task

    def listen(self, channel: str, deliver: Callable[[dict[str, Any]], None]) -> None:
        """Call `deliver` with each message of the channel, on the event loop; it must not block.

        The channel must be one the hub subscribes to (its patterns): a listener on any other
        would wait for messages that never come to this process."""
        if not any(fnmatch.fnmatchcase(channel, p) for p in self.patterns):
            raise ValueError(f"the hub does not subscribe to {channel!r} ({self.patterns})")
        self.listeners[channel].add(deliver)

    def forget(self, channel: str, deliver: Callable[[dict[str, Any]], None]) -> None:
        self.listeners[channel].discard(deliver)
        if not self.listeners[channel]:
            self.listeners.pop(channel, None)

    def deliver(self, channel: str, message: dict[str, Any]) -> None:
        for listener in list(self.listeners.get(channel, ())):
            listener(message)

    async def _run(self) -> None:
        while True:
            try:
                r = get_async_redis()
                pubsub = r.pubsub()
                await pubsub.psubscribe(*self.patterns)
                async for msg in pubsub.listen():
                    if msg.get("type") != "pmessage" or msg["channel"] not in self.listeners:
                        continue  # nobody in this process listens: not even parsed
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


class Outbox:
    """One websocket's messages, sent in order by a task that lives only while some are waiting.

    A console used to hold two tasks all its life, one waiting on its inbox and one asleep
    until its next queue figures. With thousands of consoles in a process their coroutines,
    frames and queues were much of what the garbage collector walks. An idle outbox is a
    deque; a message starts a task that sends what is waiting and ends.
    """

    LIMIT = 1000  # messages waiting, at most: past it a stalled console loses the newest

    def __init__(self, send: Callable[[str], Awaitable[None]]):
        self._send = send
        self._waiting: deque[str] = deque()
        self._task: asyncio.Task[None] | None = None
        self.closed = False

    def put(self, text: str) -> None:
        if self.closed or len(self._waiting) >= self.LIMIT:
            return
        self._waiting.append(text)
        if self._task is None:
            self._task = asyncio.get_running_loop().create_task(self._drain())

    async def _drain(self) -> None:
        try:
            while self._waiting:
                await self._send(self._waiting.popleft())
        except Exception:
            # The socket is closing: its connection's own receive loop sees it and ends.
            self._waiting.clear()
        finally:
            self._task = None

    def close(self) -> None:
        self.closed = True
        self._waiting.clear()
        if self._task is not None:
            self._task.cancel()


class FiguresRound:
    """The queue figures sent to every console of this process in turn, by one task.

    Each tick sends to the next share of the consoles, so that each one hears the figures
    every `interval_s(consoles)` seconds, and the process sends about
    consoles / interval_s(consoles) a second in all, evenly, not in bursts.
    """

    TICK_S = 0.1

    def __init__(self, figures: BranchFigures, interval_s: Callable[[int], float]):
        self.figures = figures
        self.interval_s = interval_s
        self._ring: list[tuple[tuple[str, ...], Outbox]] = []
        self._next = 0
        self._credit = 0.0  # sends owed: consoles x ticks / interval, a fraction carried

    def __len__(self) -> int:
        return len(self._ring)

    def join(self, branches: list[str], outbox: Outbox) -> None:
        self._ring.append((tuple(branches), outbox))

    def leave(self, outbox: Outbox) -> None:
        for i, (_, member) in enumerate(self._ring):
            if member is outbox:
                del self._ring[i]
                if i < self._next:
                    self._next -= 1
                return

    async def run(self) -> None:
        while True:
            await asyncio.sleep(self.TICK_S)
            try:
                await self.tick()
            except (RedisConnectionError, RedisTimeoutError, OSError) as exc:
                # The figures could not be read: the consoles hear them when Redis answers.
                outages.failed("redis", exc)
            except Exception:
                log.exception("queue figures round failed; carrying on")

    async def tick(self) -> int:
        """Send the figures to this tick's share of the consoles; how many were sent."""
        n = len(self._ring)
        if not n:
            self._credit = 0.0
            return 0
        self._credit = min(self._credit + n * self.TICK_S / self.interval_s(n), float(n))
        due = []
        for _ in range(int(self._credit)):
            if self._next >= len(self._ring):
                self._next = 0
            due.append(self._ring[self._next])
            self._next += 1
        self._credit -= len(due)
        texts: dict[tuple[str, ...], str] = {}
        for branches, _ in due:
            if branches not in texts:
                texts[branches] = await self.figures.message(list(branches))
        for branches, outbox in due:
            outbox.put(texts[branches])  # a console that left meanwhile is closed: ignored
        return len(due)


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
