"""Queue figures reach every console, without their sends growing past a bound per process."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import redis

from hotline.console_ws import QUEUE_PUSHES_PER_S, figures_interval_s
from hotline.live import BranchFigures, FiguresRound, Outbox
from hotline.routing.router import router_for
from tests.helpers import free_port, seed_branches


def test_each_console_hears_the_queue_every_second_until_the_process_holds_many():
    assert figures_interval_s(1) == 1.0
    assert figures_interval_s(QUEUE_PUSHES_PER_S) == 1.0
    assert figures_interval_s(2_500) == 5.0
    for consoles in range(1, 20_000, 97):
        # Sends per second over all consoles of the process stay within the bound.
        assert consoles / figures_interval_s(consoles) <= QUEUE_PUSHES_PER_S * (1 + 1e-9)


def test_one_round_gives_every_console_the_figures_in_turn_within_its_interval(r):
    # The process's one figures task (hotline.live.FiguresRound), read from real Redis.
    seed_branches()
    ticks_per_s = round(1 / FiguresRound.TICK_S)
    figures = BranchFigures(router_for(r).branch_figures, ttl_s=0.9)

    async def sent_per_console(consoles: int, ticks: int) -> list[int]:
        heard: list[list[str]] = [[] for _ in range(consoles)]

        def collector(i: int) -> Any:
            async def send(text: str) -> None:
                heard[i].append(text)

            return send

        round_ = FiguresRound(figures, figures_interval_s)
        outboxes = [Outbox(collector(i)) for i in range(consoles)]
        for i, outbox in enumerate(outboxes):
            round_.join(["3"] if i % 2 else ["3", "4"], outbox)
        for _ in range(ticks):
            await round_.tick()
        await asyncio.sleep(0)  # the outboxes' sends
        for i in range(consoles):
            for text in heard[i]:
                msg = json.loads(text)
                assert msg["type"] == "queue"
                assert sorted(msg["branches"]) == (["3"] if i % 2 else ["3", "4"])
        counts = [len(h) for h in heard]
        # A console that leaves hears nothing more, and the others keep their turns.
        round_.leave(outboxes[0])
        outboxes[0].close()
        for _ in range(ticks_per_s):
            await round_.tick()
        await asyncio.sleep(0)
        assert len(heard[0]) == counts[0]
        more = [len(h) - c for h, c in zip(heard[1:], counts[1:], strict=True)]
        assert max(more) == 1 if consoles > QUEUE_PUSHES_PER_S else more == [1] * (consoles - 1)
        return counts

    ticks_per_s = round(1 / FiguresRound.TICK_S)
    # A few consoles: each hears the figures once a second.
    assert asyncio.run(sent_per_console(7, 3 * ticks_per_s)) == [3] * 7
    # 2,500 in one process: each once every 5 s, so 500 sends a second in all.
    many = asyncio.run(sent_per_console(2_500, 5 * ticks_per_s))
    assert many == [1] * 2_500


def test_the_round_outlives_a_redis_that_does_not_answer(r):
    # Its one task serves every console of the process: an outage must not end it.
    seed_branches()
    nowhere = redis.Redis(port=free_port(), socket_connect_timeout=0.2)
    figures = BranchFigures(router_for(nowhere).branch_figures, ttl_s=0.9)
    heard: list[str] = []

    async def hear(text: str) -> None:
        heard.append(text)

    async def run() -> bool:
        round_ = FiguresRound(figures, figures_interval_s)
        round_.join(["3"], Outbox(hear))
        task = asyncio.create_task(round_.run())
        # A read of a Redis that refuses takes redis-py's retries, about 3 s.
        await asyncio.sleep(5)
        down = not task.done() and heard == []
        figures.read = router_for(r).branch_figures  # Redis answers again
        for _ in range(100):
            await asyncio.sleep(0.1)
            if heard:
                break
        alive = not task.done()
        task.cancel()
        return down and alive

    assert asyncio.run(run())
    assert json.loads(heard[0])["type"] == "queue"
