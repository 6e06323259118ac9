"""The interpreter's own pauses, as figures: garbage-collection pauses and event-loop lag.

An offer reaches a console only when the process's event loop gets to it. Two things hold
the loop up without any request being slow:
- the cyclic garbage collector, which stops the whole interpreter while it walks the objects
  of a generation (a full collection walks every object the process holds: thousands of
  websockets and their tasks);
- work that runs on the loop for longer than it should.

`hotline_gc_pause_seconds` (by generation) times every collection through `gc.callbacks`.
`hotline_event_loop_lag_seconds` is how late a timer that should fire every 100 ms wakes.
Both are histograms in the HTTP registry (kernel.http_observe), so with several workers
they are summed across processes like the request figures.

`tune_collector` is the process's collection policy, applied once the app has started. A
full collection walks every object the collector tracks, and a process holding 2,500 consoles
tracks over half a million (about 200 per console: its websocket, tasks, coroutines, queues),
so each full collection stopped it for 0.5-1 s, and an offer due then waited as long. So:
- everything alive once the app has started (modules, the app, routes, caches) is moved out of
  the collector's reach (`gc.freeze`): it lives as long as the process;
- after each full collection, what survived it is frozen too, so the next full collection
  walks only what was promoted since, not every console again;
- every `HOTLINE_GC_FULL_WALK_EVERY`-th full collection (our default 10) first puts the frozen
  objects back, so reference cycles among them (a console that closed, say) are still freed:
  memory is bounded, and the long pause comes that many times less often;
- the youngest generation is collected after `HOTLINE_GC_GEN0_THRESHOLD` allocations (our
  default 10,000; Python's is 700), so short-lived request objects are mostly freed by
  reference counting before a collection ever sees them.
"""

from __future__ import annotations

import asyncio
import gc
import time
from typing import Any

from prometheus_client import Histogram

from kernel.http_observe import REGISTRY

GC_PAUSE = Histogram(
    "hotline_gc_pause_seconds",
    "Time the garbage collector stopped the process, by generation collected.",
    ("generation",),
    buckets=(0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0),
    registry=REGISTRY,
)
LOOP_LAG = Histogram(
    "hotline_event_loop_lag_seconds",
    "How late the event loop ran a timer due every 100 ms: the wait any websocket push had.",
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5),
    registry=REGISTRY,
)
LAG_TICK_S = 0.1

_started: list[float] = []
_tuned: list[bool] = []
_children = {str(g): GC_PAUSE.labels(generation=str(g)) for g in range(3)}


def _on_gc(phase: str, info: dict[str, Any]) -> None:
    if phase == "start":
        _started.append(time.perf_counter())
    elif _started:
        _children[str(info["generation"])].observe(time.perf_counter() - _started.pop())


def watch_collector() -> None:
    """Time every collection in this process (once; later calls do nothing)."""
    if _on_gc not in gc.callbacks:
        gc.callbacks.append(_on_gc)


class _FreezeAfterFull:
    """The gc callback of the policy above: freeze after each full collection, and every
    `walk_every`-th one, put the frozen objects back first so that one walks them all."""

    def __init__(self, walk_every: int) -> None:
        self.walk_every = walk_every
        self.full = 0

    def __call__(self, phase: str, info: dict[str, Any]) -> None:
        if info["generation"] != 2:
            return
        if phase == "start":
            self.full += 1
            if self.full % self.walk_every == 0:
                gc.unfreeze()
        else:
            gc.freeze()


def tune_collector(gen0_threshold: int, full_walk_every: int) -> None:
    """Freeze what the process has built so far, freeze what each full collection leaves, and
    collect the young generation less often (`full_walk_every` 0: no freezing after full ones).

    Once per process: a process that starts several apps (the tests) tunes only at the first.
    """
    if _tuned:
        return
    _tuned.append(True)
    gc.collect()
    gc.freeze()
    _, gen1, gen2 = gc.get_threshold()
    gc.set_threshold(gen0_threshold, gen1, gen2)
    if full_walk_every:
        gc.callbacks.append(_FreezeAfterFull(full_walk_every))


async def watch_loop(stopping: asyncio.Event) -> None:
    """Observe the loop's lag until `stopping` is set."""
    loop = asyncio.get_running_loop()
    while not stopping.is_set():
        due = loop.time() + LAG_TICK_S
        await asyncio.sleep(LAG_TICK_S)
        LOOP_LAG.observe(max(0.0, loop.time() - due))
