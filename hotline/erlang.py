"""Erlang C call-centre staffing: how many call-takers a forecast call volume needs."""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Any, ClassVar, Final

from kernel.errors import FieldRuleError

# Far beyond any hotline; only stops a runaway search on absurd input.
MAX_AGENTS: Final = 100_000


class StaffingInputError(FieldRuleError):
    """A staffing input that cannot be right; names the field and the rule."""

    code: ClassVar[str] = "invalid_staffing_input"


def _check(field: str, value: object, *, low: float, low_open: bool = False) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise StaffingInputError(field, value, "must be a finite number")
    if value < low or (low_open and value == low):
        raise StaffingInputError(
            field, value, f"must be {'greater than' if low_open else 'at least'} {low:g}"
        )
    return float(value)


def _check_agents(agents: object) -> int:
    if isinstance(agents, bool) or not isinstance(agents, int) or agents < 1:
        raise StaffingInputError("agents", agents, "must be a whole number of at least 1")
    return agents


def traffic(calls_per_hour: float, aht_s: float) -> float:
    """Offered load in erlangs: calls per hour times handle time in hours."""
    calls = _check("calls_per_hour", calls_per_hour, low=0)
    aht = _check("aht_s", aht_s, low=0, low_open=True)
    return calls * aht / 3600


def erlang_b(traffic_erlangs: float, agents: int) -> float:
    """Blocking probability, by the recurrence B(k) = A*B(k-1) / (k + A*B(k-1)).

    The recurrence stays within [0, 1] at every step, so it never overflows the way
    A**N / N! does for large N.
    """
    a = _check("traffic_erlangs", traffic_erlangs, low=0)
    n = _check_agents(agents)
    b = 1.0
    for k in range(1, n + 1):
        b = a * b / (k + a * b)
    return b


def erlang_c(traffic_erlangs: float, agents: int) -> float:
    """Probability that a call waits; 1.0 once load reaches the agent count (no steady state)."""
    a = _check("traffic_erlangs", traffic_erlangs, low=0)
    n = _check_agents(agents)
    if a >= n:
        return 1.0
    b = erlang_b(a, n)
    return n * b / (n - a * (1 - b))


def service_level(calls_per_hour: float, aht_s: float, agents: int, threshold_s: float) -> float:
    """Share of calls answered within threshold_s seconds."""
    a = traffic(calls_per_hour, aht_s)
    n = _check_agents(agents)
    t = _check("threshold_s", threshold_s, low=0)
    if a >= n:
        return 0.0
    return max(0.0, 1 - erlang_c(a, n) * math.exp(-(n - a) * t / aht_s))


def average_speed_of_answer(calls_per_hour: float, aht_s: float, agents: int) -> float:
    """Mean wait in seconds over all calls; infinite when the queue never empties."""
    a = traffic(calls_per_hour, aht_s)
    n = _check_agents(agents)
    if a >= n:
        return math.inf
    return erlang_c(a, n) * aht_s / (n - a)


def occupancy(calls_per_hour: float, aht_s: float, agents: int) -> float:
    """Share of agents' time spent on calls, capped at 1 (an overloaded floor is fully busy)."""
    a = traffic(calls_per_hour, aht_s)
    n = _check_agents(agents)
    return min(1.0, a / n)


@dataclass(frozen=True, slots=True)
class StaffingAdvice:
    agents: int
    service_level: float
    asa_s: float
    occupancy: float
    traffic_erlangs: float

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def staffing(
    calls_per_hour: float,
    aht_s: float,
    target: float,
    threshold_s: float,
    max_occupancy: float | None = None,
) -> StaffingAdvice:
    """Fewest agents answering `target` of calls within threshold_s (and under max_occupancy).

    At least one agent is advised even for no forecast calls: an open line needs someone.
    Agents on the phone only: breaks, training and absence (shrinkage) are the caller's to add.
    """
    a = traffic(calls_per_hour, aht_s)
    goal = _check("target", target, low=0, low_open=True)
    if goal >= 1:
        # Erlang C never reaches 100%; asking for it would search forever.
        raise StaffingInputError("target", target, "must be below 1")
    _check("threshold_s", threshold_s, low=0)
    if max_occupancy is not None:
        cap = _check("max_occupancy", max_occupancy, low=0, low_open=True)
        if cap > 1:
            raise StaffingInputError("max_occupancy", max_occupancy, "must be at most 1")
    n = max(1, math.floor(a) + 1)
    while n <= MAX_AGENTS:
        level = service_level(calls_per_hour, aht_s, n, threshold_s)
        busy = occupancy(calls_per_hour, aht_s, n)
        if level >= goal and (max_occupancy is None or busy <= max_occupancy):
            return StaffingAdvice(
                agents=n,
                service_level=level,
                asa_s=average_speed_of_answer(calls_per_hour, aht_s, n),
                occupancy=busy,
                traffic_erlangs=a,
            )
        n += 1
    raise StaffingInputError(
        "calls_per_hour", calls_per_hour, f"needs more than {MAX_AGENTS} agents"
    )
