"""Streaks, as pure functions of a customer's active periods.

A period is numbered (``period_number``): UTC days since 0001-01-01, ISO weeks, months. A
customer's active periods are kept as sorted ``[first, last]`` runs of consecutive numbers.
A streak is a sequence of active periods in which no gap of missed periods is longer than
the definition's ``grace``; its length counts active periods only. The ``current`` streak at
a period ``p`` is the one that reaches ``p``: its last active period is at most ``p`` and no
more than ``grace`` periods were missed since. ``best`` is the longest streak ever.
"""

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from app.rules.unit import CustomerState, StreakDefinition, UnitState

PERIODS = ("day", "week", "month")
Runs = list[list[int]]


def period_number(period: str, at: datetime) -> int:
    day = at.astimezone(UTC).date()
    if period == "day":
        return day.toordinal()
    if period == "week":
        # Ordinal 1 (0001-01-01) is a Monday, so ISO weeks are whole multiples of 7 apart.
        return (day.toordinal() - 1) // 7
    return day.year * 12 + day.month - 1


def with_period(runs: Runs, p: int) -> Runs:
    """``runs`` with period ``p`` active (a new list; ``runs`` is not changed)."""
    out: Runs = []
    placed = False
    for first, last in runs:
        if placed or last < p - 1:
            out.append([first, last])
        elif first > p + 1:
            out.append([p, p])
            out.append([first, last])
            placed = True
        else:
            out.append([min(first, p), max(last, p)])
            placed = True
        if len(out) >= 2 and out[-2][1] >= out[-1][0] - 1:
            merged = [out[-2][0], max(out[-2][1], out[-1][1])]
            out[-2:] = [merged]
    if not placed:
        out.append([p, p])
    return out


@dataclass(frozen=True, slots=True)
class Run:
    last: int
    length: int


def _streaks(runs: Runs, grace: int, until: int | None = None) -> list[Run]:
    out: list[Run] = []
    for first, last in runs:
        if until is not None:
            if first > until:
                break
            last = min(last, until)
        size = last - first + 1
        if out and first - out[-1].last - 1 <= grace:
            out[-1] = Run(last, out[-1].length + size)
        else:
            out.append(Run(last, size))
    return out


def current(runs: Runs, grace: int, p: int) -> int:
    """The streak reaching period ``p``; 0 when it was broken (or there is none)."""
    streaks = _streaks(runs, grace, until=p)
    if not streaks or p - streaks[-1].last - 1 > grace:
        return 0
    return streaks[-1].length


def best(runs: Runs, grace: int) -> int:
    return max((s.length for s in _streaks(runs, grace)), default=0)


def advance(
    unit: UnitState, state: CustomerState, event: Any
) -> tuple[dict[str, tuple[int, int]], dict[str, int]]:
    """Count ``event`` in every streak it qualifies for. Answers, per streak, (current, best)
    before the event and the current streak after it, both at the event's own period."""
    before: dict[str, tuple[int, int]] = {}
    after: dict[str, int] = {}
    for streak in unit.streaks:
        runs = state.streaks.get(streak.id, [])
        p = period_number(streak.period, event.occurred_at)
        before[streak.id] = (current(runs, streak.grace, p), best(runs, streak.grace))
        if event.type.value in streak.event_types:
            updated = with_period(runs, p)
            if updated != runs:
                state.streaks[streak.id] = runs = updated
                unit.streaks_changed.add((streak.id, state.id))
        after[streak.id] = current(runs, streak.grace, p)
    return before, after


def definition(row: Any) -> StreakDefinition:
    return StreakDefinition(row.id, frozenset(row.event_types), row.period, row.grace)
