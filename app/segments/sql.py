"""A segment's condition, in the rules' language, as a SQL predicate over the customer facts
(``app.customers.facts``), evaluated live: membership is whatever the facts are when the
query runs.

The semantics are the rules engine's: an absent fact makes every comparison false (each
comparison is guarded by ``IS NOT NULL``, so ``not`` negates a plain true or false, never a
SQL null), and ``exists`` tests presence. ``recency_days`` and ``signup_date`` are
functions of a timestamp, so their comparisons become range tests on that timestamp,
which need no date arithmetic in SQL and read the same on both databases.
"""

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any, Final

from sqlalchemy import ColumnElement, and_, exists, false, func, not_, or_, select, true
from sqlalchemy.sql import Subquery

from app.models import CustomerBadge
from app.rules.facts import STATIC_FACTS, FactSpec
from app.rules.schemas import (
    AllCondition,
    AnyCondition,
    Comparison,
    ConditionNode,
    NotCondition,
    iter_comparisons,
    normalize_operand,
)

# Segment fact -> the column of ``FactsQuery`` it reads.
COLUMN_FACTS: Final[dict[str, str]] = {
    "customer.tier": "tier",
    "customer.purchase_count": "purchase_count",
    "customer.lifetime_spend": "lifetime_spend",
    "customer.referral_count": "referral_count",
    "customer.frequency": "frequency",
    "customer.monetary": "monetary",
    "customer.rfm_score": "rfm_score",
    "customer.probability_alive": "probability_alive",
    "customer.predicted_clv": "predicted_clv",
    "customer.last_nps": "last_nps",
    "customer.last_csat": "last_csat",
}
# Facts computed from a timestamp column: (column, whether the fact grows with it).
TIMESTAMP_FACTS: Final[dict[str, tuple[str, bool]]] = {
    "customer.recency_days": ("last_purchase_at", False),
    "customer.days_since_last_purchase": ("last_purchase_at", False),
    "customer.signup_date": ("first_seen_at", True),
}
LIST_FACTS: Final = frozenset({"customer.badges"})
SEGMENT_FACTS: Final = frozenset(COLUMN_FACTS) | frozenset(TIMESTAMP_FACTS) | LIST_FACTS
# Beyond this many days either way a recency comparison's bound leaves the calendar.
_MAX_DAYS: Final = 700_000


def refusal(path: str) -> str | None:
    """Why a segment cannot use the fact, or None when it can."""
    if path in SEGMENT_FACTS:
        return None
    if path == "customer.segments":
        return "A segment cannot be defined by segments."
    if path == "customer.available_points":
        return "Segments do not read customer.available_points (it depends on the clock)."
    known = ", ".join(sorted(SEGMENT_FACTS))
    return f"A segment reads customer facts only: {known}."


def spec(path: str) -> FactSpec:
    return STATIC_FACTS[path]


def needed(condition: ConditionNode | None) -> set[str]:
    """The ``FactsQuery`` columns the condition reads."""
    columns: set[str] = set()
    if condition is None:
        return columns
    for _, comparison in iter_comparisons(condition):
        if comparison.fact in COLUMN_FACTS:
            columns.add(COLUMN_FACTS[comparison.fact])
        elif comparison.fact in TIMESTAMP_FACTS:
            columns.add(TIMESTAMP_FACTS[comparison.fact][0])
    return columns


def needed_all(conditions: Iterable[ConditionNode | None]) -> set[str]:
    return set().union(*(needed(c) for c in conditions))


@dataclass(frozen=True)
class Compiler:
    """Translates conditions against the facts subquery ``facts`` as of ``now``."""

    facts: Subquery
    now: datetime
    dialect: str

    def condition(self, node: ConditionNode | None) -> ColumnElement[bool]:
        if node is None:
            return true()
        if isinstance(node, Comparison):
            return self.comparison(node)
        if isinstance(node, NotCondition):
            return not_(self.condition(node.not_))
        if isinstance(node, AllCondition):
            return and_(*(self.condition(n) for n in node.all))
        assert isinstance(node, AnyCondition)
        return or_(*(self.condition(n) for n in node.any))

    def comparison(self, cmp: Comparison) -> ColumnElement[bool]:
        value = normalize_operand(spec(cmp.fact), cmp.op, cmp.value)
        if cmp.fact in LIST_FACTS:
            return self._badges(cmp.op, value)
        if cmp.fact in TIMESTAMP_FACTS:
            name, increasing = TIMESTAMP_FACTS[cmp.fact]
            column = self.facts.c[name]
            if cmp.op == "exists":
                return column.is_not(None) if value else column.is_(None)
            bounds = _dates(column) if increasing else _recency(column, self.now)
            return and_(column.is_not(None), _ranged(cmp.op, value, *bounds))
        column = self.facts.c[COLUMN_FACTS[cmp.fact]]
        if cmp.op == "exists":
            return column.is_not(None) if value else column.is_(None)
        return and_(column.is_not(None), self._compare(column, cmp.op, value))

    def _compare(self, column: Any, op: str, value: Any) -> ColumnElement[bool]:
        if op == "in":
            return column.in_(list(value))  # type: ignore[no-any-return]
        if op == "not_in":
            return column.not_in(list(value))  # type: ignore[no-any-return]
        if op == "between":
            return column.between(*value)  # type: ignore[no-any-return]
        if op == "contains":
            # Case-sensitive as in the rules (LIKE is not, on SQLite).
            found = func.instr if self.dialect == "sqlite" else func.strpos
            return found(column, value) > 0
        operators: dict[str, Callable[[Any, Any], Any]] = {
            "eq": lambda c, v: c == v,
            "ne": lambda c, v: c != v,
            "gt": lambda c, v: c > v,
            "gte": lambda c, v: c >= v,
            "lt": lambda c, v: c < v,
            "lte": lambda c, v: c <= v,
        }
        return operators[op](column, value)  # type: ignore[no-any-return]

    def _badges(self, op: str, value: Any) -> ColumnElement[bool]:
        if op == "exists":
            return true() if value else false()
        badges = list(value) if op in ("in", "not_in") else [value]
        held = exists(
            select(CustomerBadge.id).where(
                CustomerBadge.customer_id == self.facts.c.id, CustomerBadge.badge.in_(badges)
            )
        )
        return not_(held) if op == "not_in" else held


Bound = Callable[[Any], ColumnElement[bool]]


def _recency(column: Any, now: datetime) -> tuple[Bound, Bound, Callable[[Any, int], Any]]:
    """recency >= k is ``last <= now - k days``; recency <= k is ``last > now - (k+1) days``."""

    def days(k: int) -> timedelta:
        return timedelta(days=max(-_MAX_DAYS, min(_MAX_DAYS, k)))

    def at_least(k: Any) -> ColumnElement[bool]:
        return column <= now - days(k)  # type: ignore[no-any-return]

    def at_most(k: Any) -> ColumnElement[bool]:
        return column > now - days(k + 1)  # type: ignore[no-any-return]

    return at_least, at_most, lambda k, step: k + step


def _midnight(day: date) -> datetime:
    return datetime(day.year, day.month, day.day, tzinfo=UTC)


def _dates(column: Any) -> tuple[Bound, Bound, Callable[[Any, int], Any]]:
    """signup_date >= d is ``first_seen >= d``; signup_date <= d is ``first_seen < d + 1``."""

    def at_least(day: Any) -> ColumnElement[bool]:
        return column >= _midnight(day)  # type: ignore[no-any-return]

    def at_most(day: Any) -> ColumnElement[bool]:
        if day >= date.max:
            return true()
        return column < _midnight(day + timedelta(days=1))  # type: ignore[no-any-return]

    def step(day: Any, by: int) -> Any:
        try:
            return day + timedelta(days=by)
        except OverflowError:
            return None

    return at_least, at_most, step


def _ranged(
    op: str, value: Any, at_least: Bound, at_most: Bound, step: Callable[[Any, int], Any]
) -> ColumnElement[bool]:
    """An ordered comparison of a monotone fact, from its two one-sided bounds."""

    def equal(v: Any) -> ColumnElement[bool]:
        return and_(at_least(v), at_most(v))

    def beyond(v: Any, by: int, bound: Bound) -> ColumnElement[bool]:
        moved = step(v, by)
        # Past the calendar's end (or start): no value lies beyond.
        return false() if moved is None else bound(moved)

    if op == "gte":
        return at_least(value)
    if op == "gt":
        return beyond(value, 1, at_least)
    if op == "lte":
        return at_most(value)
    if op == "lt":
        return beyond(value, -1, at_most)
    if op == "eq":
        return equal(value)
    if op == "ne":
        return not_(equal(value))
    if op == "in":
        return or_(*(equal(v) for v in value))
    if op == "not_in":
        return not_(or_(*(equal(v) for v in value)))
    if op == "between":
        lo, hi = value
        return and_(at_least(lo), at_most(hi))
    raise ValueError(f"operator {op!r} does not apply")
