"""Queue figures reach every console, without their sends growing past a bound per process."""

from __future__ import annotations

from hotline.console_ws import QUEUE_PUSHES_PER_S, figures_interval_s


def test_each_console_hears_the_queue_every_second_until_the_process_holds_many():
    assert figures_interval_s(1) == 1.0
    assert figures_interval_s(QUEUE_PUSHES_PER_S) == 1.0
    assert figures_interval_s(2_500) == 5.0
    for consoles in range(1, 20_000, 97):
        # Sends per second over all consoles of the process stay within the bound.
        assert consoles / figures_interval_s(consoles) <= QUEUE_PUSHES_PER_S * (1 + 1e-9)
