"""The interpreter's pauses are figures an operator can read, and the collection policy that
keeps them short never keeps garbage for good."""

from __future__ import annotations

import gc
import subprocess
import sys
import textwrap
from typing import Any

from tests.helpers import ROOT, metric, parse_metrics, wait_for

# Run in a process of its own: the policy changes the collector of the whole process.
POLICY = textwrap.dedent(
    """
    import gc, weakref
    from kernel import runtime_observe

    runtime_observe.watch_collector()
    runtime_observe.tune_collector(10_000, 3)
    assert gc.get_threshold()[0] == 10_000
    assert gc.get_freeze_count() > 0, "what start-up built is frozen"

    class Console:
        pass

    def closed_console():
        c = Console()
        c.me = c  # a reference cycle: only the collector frees it
        return c, weakref.ref(c)

    c, ref = closed_console()
    gc.collect()  # full collection 1: the console is alive, and is frozen with the rest
    del c  # the console closes: its cycle is garbage, frozen
    gc.collect()  # 2: walks only what came since, so the frozen garbage stays
    kept_after_2 = ref() is not None
    gc.collect()  # 3: every third walks the frozen objects too
    freed_after_3 = ref() is None
    full = runtime_observe.GC_PAUSE.labels(generation="2")._sum.get() > 0
    print(kept_after_2, freed_after_3, full)
    """
)


def test_garbage_frozen_by_a_full_collection_is_freed_by_the_next_full_walk():
    out = subprocess.run(
        [sys.executable, "-c", POLICY], cwd=ROOT, capture_output=True, text=True, timeout=60
    )
    assert out.returncode == 0, out.stderr
    kept_after_2, freed_after_3, timed = out.stdout.split()
    # Kept while frozen (the long pause is what the policy saves), freed at the full walk
    # (memory stays bounded), and every collection was timed.
    assert (kept_after_2, freed_after_3, timed) == ("True", "True", "True")


def test_collection_pauses_and_event_loop_lag_show_in_metrics(client: Any):
    def scrape() -> Any:
        res = client.get("/metrics")
        assert res.status_code == 200
        return parse_metrics(res.text)

    before = scrape()
    gc.collect()
    # The lag timer runs on the app's event loop every 100 ms.
    wait_for(
        lambda: (
            metric(scrape(), "hotline_event_loop_lag_seconds_count")
            >= metric(before, "hotline_event_loop_lag_seconds_count") + 3
        ),
        timeout=10,
        every=0.2,
        what="the lag timer to tick",
    )
    after = scrape()
    full = "hotline_gc_pause_seconds_count"
    assert metric(after, full, generation="2") >= metric(before, full, generation="2") + 1
    assert metric(after, "hotline_gc_pause_seconds_sum", generation="2") > metric(
        before, "hotline_gc_pause_seconds_sum", generation="2"
    )
