"""Erlang C staffing against the worked example and hand-computed small cases."""

from __future__ import annotations

import itertools
import math
from collections.abc import Callable
from typing import Any

import pytest

from hotline.erlang import (
    StaffingInputError,
    average_speed_of_answer,
    erlang_b,
    erlang_c,
    occupancy,
    service_level,
    staffing,
    traffic,
)

# The worked example: 100 calls in 30 minutes, 180 s handle time, 14 agents.
CALLS_PER_HOUR = 200
AHT_S = 180


def test_worked_example_with_14_agents() -> None:
    assert traffic(CALLS_PER_HOUR, AHT_S) == pytest.approx(10.0)
    assert erlang_c(10, 14) == pytest.approx(0.1741, abs=5e-4)
    assert service_level(CALLS_PER_HOUR, AHT_S, 14, 20) == pytest.approx(0.888, abs=1e-3)
    assert average_speed_of_answer(CALLS_PER_HOUR, AHT_S, 14) == pytest.approx(7.8, abs=0.05)
    assert occupancy(CALLS_PER_HOUR, AHT_S, 14) == pytest.approx(10 / 14)


@pytest.mark.parametrize(
    ("a", "n", "blocking"),
    [
        (1, 1, 1 / 2),  # A / (1 + A)
        (2, 2, 2 / 5),  # (4/2) / (1 + 2 + 4/2)
        (3, 1, 3 / 4),
        (0, 3, 0.0),
    ],
)
def test_erlang_b_small_cases(a: float, n: int, blocking: float) -> None:
    assert erlang_b(a, n) == pytest.approx(blocking)


@pytest.mark.parametrize(
    ("a", "n", "waiting"),
    [
        (1, 2, 1 / 3),  # (1/2 * 2/1) / (1 + 1 + 1/2 * 2/1)
        (0.5, 1, 0.5),  # one agent: waits with probability A
        (2, 3, 4 / 9),  # (8/6 * 3) / (1 + 2 + 2 + 8/6 * 3)
        (0, 1, 0.0),
    ],
)
def test_erlang_c_small_cases(a: float, n: int, waiting: float) -> None:
    assert erlang_c(a, n) == pytest.approx(waiting)


@pytest.mark.parametrize(("a", "n"), [(10, 10), (12, 10), (1, 1)])
def test_overloaded_floor(a: float, n: int) -> None:
    calls = a * 3600 / AHT_S
    assert erlang_c(a, n) == 1.0
    assert service_level(calls, AHT_S, n, 20) == 0.0
    assert math.isinf(average_speed_of_answer(calls, AHT_S, n))
    assert occupancy(calls, AHT_S, n) == 1.0


def test_large_floors_do_not_overflow() -> None:
    waiting = erlang_c(5000, 5100)
    assert 0 < waiting < 1
    assert 0 < erlang_b(5000, 5100) < 1


def test_more_agents_never_serve_worse() -> None:
    levels = [service_level(CALLS_PER_HOUR, AHT_S, n, 20) for n in range(11, 40)]
    waits = [average_speed_of_answer(CALLS_PER_HOUR, AHT_S, n) for n in range(11, 40)]
    chances = [erlang_c(10, n) for n in range(11, 40)]
    assert all(a < b for a, b in itertools.pairwise(levels) if b < 1)
    assert levels == sorted(levels)
    assert waits == sorted(waits, reverse=True)
    assert chances == sorted(chances, reverse=True)
    assert levels[-1] == pytest.approx(1.0)


def test_longer_threshold_never_serves_worse() -> None:
    levels = [service_level(CALLS_PER_HOUR, AHT_S, 14, t) for t in (0, 10, 20, 30, 60, 120)]
    assert levels == sorted(levels)
    # Within 0 s means answered without waiting at all.
    assert levels[0] == pytest.approx(1 - erlang_c(10, 14))


@pytest.mark.parametrize(
    ("target", "at_most", "at_least"),
    [
        (0.80, 14, 13),  # 14 agents give 88.8%, so 80% needs no more
        (0.888, 14, 13),
        (0.90, 40, 15),  # beyond 88.8% needs more than 14
    ],
)
def test_staffing_reaches_target(target: float, at_most: int, at_least: int) -> None:
    advice = staffing(CALLS_PER_HOUR, AHT_S, target, 20)
    assert at_least <= advice.agents <= at_most
    assert advice.service_level >= target
    # Smallest: one fewer agent misses the target.
    assert service_level(CALLS_PER_HOUR, AHT_S, advice.agents - 1, 20) < target
    assert advice.traffic_erlangs == pytest.approx(10)
    assert advice.asa_s == pytest.approx(
        average_speed_of_answer(CALLS_PER_HOUR, AHT_S, advice.agents)
    )


def test_staffing_worked_example() -> None:
    advice = staffing(CALLS_PER_HOUR, AHT_S, 0.85, 20)
    assert advice.agents == 14
    assert advice.to_dict() == {
        "agents": 14,
        "service_level": pytest.approx(0.888, abs=1e-3),
        "asa_s": pytest.approx(7.8, abs=0.05),
        "occupancy": pytest.approx(10 / 14),
        "traffic_erlangs": pytest.approx(10),
    }


def test_staffing_respects_max_occupancy() -> None:
    # 10 erlangs at no more than 70% busy needs 10 / 0.7 = 14.3, so 15 agents.
    advice = staffing(CALLS_PER_HOUR, AHT_S, 0.5, 20, max_occupancy=0.7)
    assert advice.agents == 15
    assert advice.occupancy <= 0.7


def test_staffing_with_no_calls_keeps_one_agent() -> None:
    advice = staffing(0, AHT_S, 0.9, 20)
    assert (advice.agents, advice.service_level, advice.asa_s, advice.occupancy) == (1, 1, 0, 0)


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"calls_per_hour": -1}, "calls_per_hour"),
        ({"calls_per_hour": float("nan")}, "calls_per_hour"),
        ({"aht_s": 0}, "aht_s"),
        ({"aht_s": -5}, "aht_s"),
        ({"target": 0}, "target"),
        ({"target": 1}, "target"),
        ({"target": 1.2}, "target"),
        ({"threshold_s": -1}, "threshold_s"),
        ({"max_occupancy": 0}, "max_occupancy"),
        ({"max_occupancy": 1.1}, "max_occupancy"),
        ({"calls_per_hour": "200"}, "calls_per_hour"),
    ],
)
def test_staffing_refuses_bad_inputs(kwargs: dict[str, Any], field: str) -> None:
    args: dict[str, Any] = {
        "calls_per_hour": CALLS_PER_HOUR,
        "aht_s": AHT_S,
        "target": 0.8,
        "threshold_s": 20,
        **kwargs,
    }
    with pytest.raises(StaffingInputError) as caught:
        staffing(**args)
    assert caught.value.field == field
    assert isinstance(caught.value, ValueError)


@pytest.mark.parametrize("agents", [0, -1, 1.5, True])
def test_refuses_bad_agent_counts(agents: Any) -> None:
    calls: tuple[Callable[[], float], ...] = (
        lambda: erlang_c(10, agents),
        lambda: service_level(CALLS_PER_HOUR, AHT_S, agents, 20),
        lambda: average_speed_of_answer(CALLS_PER_HOUR, AHT_S, agents),
        lambda: occupancy(CALLS_PER_HOUR, AHT_S, agents),
    )
    for call in calls:
        with pytest.raises(StaffingInputError) as caught:
            call()
        assert caught.value.field == "agents"


@pytest.mark.parametrize("a", [-1, float("inf")])
def test_refuses_bad_traffic(a: float) -> None:
    with pytest.raises(StaffingInputError) as caught:
        erlang_c(a, 3)
    assert caught.value.field == "traffic_erlangs"
