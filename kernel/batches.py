"""Requests that come in together are handed to a worker thread together.

At a peak, the hot routes (call arrivals, bed updates) get dozens of requests within a
few milliseconds of each other. Each one alone costs a worker-thread hop, a connection
from the pool and a commit. A `Batches` gathers the requests waiting on one event loop and
gives them to its `write` function as one list, in one hop: at a quiet moment a batch is
one request and nothing changes.

`write` answers each item of the list, in order, with its result or the exception that
request gets; a request that fails fails alone.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

from kernel.deps import in_hot_thread

Item = TypeVar("Item")
Out = TypeVar("Out")


@dataclass
class _Waiting(Generic[Item, Out]):
    item: Item
    answer: asyncio.Future[Out] = field(repr=False)


class Batches(Generic[Item, Out]):
    """The requests of one event loop, handed to worker threads in batches.

    At most `running` batches are written at once; requests that come meanwhile wait for
    the next one (at most `size` to a batch).
    """

    def __init__(
        self,
        write: Callable[[list[Item]], list[Out | BaseException]],
        *,
        size: int,
        running: int,
    ) -> None:
        self.write, self.size, self.running = write, size, running
        self._waiting: list[_Waiting[Item, Out]] = []
        self._busy = 0
        self._tasks: set[asyncio.Task[None]] = set()

    async def submit(self, item: Item) -> Out:
        answer: asyncio.Future[Out] = asyncio.get_running_loop().create_future()
        self._waiting.append(_Waiting(item, answer))
        self._start()
        return await answer

    def _start(self) -> None:
        while self._waiting and self._busy < self.running:
            batch, self._waiting = self._waiting[: self.size], self._waiting[self.size :]
            self._busy += 1
            task = asyncio.create_task(self._write(batch))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)

    async def _write(self, batch: list[_Waiting[Item, Out]]) -> None:
        try:
            results = await in_hot_thread(self.write, [w.item for w in batch])
        except BaseException as exc:  # the whole hop failed: every request of it hears so
            results = [exc] * len(batch)
        finally:
            self._busy -= 1
            self._start()
        for waiting, result in zip(batch, results, strict=True):
            if waiting.answer.done():  # the client went away meanwhile
                continue
            if isinstance(result, BaseException):
                waiting.answer.set_exception(result)
            else:
                waiting.answer.set_result(result)


def batches_on(
    state: Any,
    name: str,
    write: Callable[[list[Item]], list[Out | BaseException]],
    *,
    size: int,
    running: int,
) -> Batches[Item, Out]:
    """The app's batches called `name` (one per app, created on first use)."""
    found: Batches[Item, Out] | None = getattr(state, name, None)
    if found is None:
        found = Batches(write, size=size, running=running)
        setattr(state, name, found)
    return found
