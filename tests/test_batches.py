"""How the hot routes' requests are gathered into batches (kernel/batches.py).

`write` here is a thread that waits for the test's word, so the test decides when a batch
is done; no test here measures time. The waits are bounds for a broken build only.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Awaitable
from typing import Any

from kernel.batches import Batches

BOUND_S = 10


class Writer:
    """Records each batch; a batch is done when the test releases it."""

    def __init__(self) -> None:
        self.batches: list[list[int]] = []
        self.release = threading.Semaphore(0)
        self.started = threading.Semaphore(0)

    def __call__(self, items: list[int]) -> list[int | BaseException]:
        self.batches.append(list(items))
        self.started.release()
        assert self.release.acquire(timeout=BOUND_S), "the test never released the batch"
        return [i * 10 for i in items]


async def _started(writer: Writer) -> None:
    assert await asyncio.to_thread(writer.started.acquire, timeout=BOUND_S), "no batch started"


def _run(main: Awaitable[Any]) -> Any:
    return asyncio.run(asyncio.wait_for(main, BOUND_S * 3))  # type: ignore[arg-type]


async def _settle() -> None:
    for _ in range(5):  # let every submit reach its batch
        await asyncio.sleep(0)


def test_a_request_at_a_quiet_moment_starts_at_once() -> None:
    async def main() -> None:
        writer = Writer()
        # A gathering time far beyond the test's bound: waiting for it would fail the test.
        batches = Batches(writer, size=64, running=2, gather_s=3600)
        answer = asyncio.create_task(batches.submit(7))
        await _started(writer)
        writer.release.release()
        assert await answer == 70
        assert writer.batches == [[7]]

    _run(main())


def test_requests_that_come_while_a_batch_is_written_are_gathered_into_one() -> None:
    async def main() -> None:
        writer = Writer()
        batches = Batches(writer, size=64, running=2, gather_s=1.0)
        first = asyncio.create_task(batches.submit(0))
        await _started(writer)
        rest = []
        for i in range(1, 6):  # one by one, as requests come over a connection each
            rest.append(asyncio.create_task(batches.submit(i)))
            await _settle()
        await _started(writer)  # the second batch, once the gathering time is up
        for _ in range(2):
            writer.release.release()
        assert await first == 0
        assert await asyncio.gather(*rest) == [10, 20, 30, 40, 50]
        # Without gathering, the first request to come would have started a batch of
        # one, and the four after it a third batch.
        assert writer.batches == [[0], [1, 2, 3, 4, 5]]

    _run(main())


def test_a_full_batch_does_not_wait_for_the_gathering_time() -> None:
    async def main() -> None:
        writer = Writer()
        batches = Batches(writer, size=3, running=2, gather_s=3600)
        first = asyncio.create_task(batches.submit(0))
        await _started(writer)
        rest = [asyncio.create_task(batches.submit(i)) for i in (1, 2, 3)]
        await _started(writer)  # three wait: the second batch starts now, not in an hour
        writer.release.release()
        writer.release.release()
        assert await first == 0
        assert await asyncio.gather(*rest) == [10, 20, 30]
        assert writer.batches == [[0], [1, 2, 3]]

    _run(main())


def test_the_gathered_requests_start_when_a_running_batch_ends() -> None:
    async def main() -> None:
        writer = Writer()
        batches = Batches(writer, size=64, running=2, gather_s=3600)
        first = asyncio.create_task(batches.submit(0))
        await _started(writer)
        rest = [asyncio.create_task(batches.submit(i)) for i in (1, 2)]
        await _settle()
        writer.release.release()  # the first batch ends: nothing is being written now
        assert await first == 0
        await _started(writer)
        writer.release.release()
        assert await asyncio.gather(*rest) == [10, 20]
        assert writer.batches == [[0], [1, 2]]

    _run(main())
