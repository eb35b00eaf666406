"""What a metric asks of the database: the request's ``Scope`` and the ``Query`` objects
the registry's metrics are computed from.

A query is a value: two metrics (or the summary's eight) that need the same read share
one query, and a read that answers more (activity with the referral counts) stands in for
one that answers less, so that the summary runs each aggregate once.
"""

from collections.abc import Hashable, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any, Generic, Protocol, Self, TypeVar, cast

from sqlalchemy.ext.asyncio import AsyncSession

from app.metrics import fits
from app.metrics.periods import Period, Window
from app.metrics.queries import activity, cohorts, purchases, surveys
from app.metrics.queries.common import By, CustomerFilter, Key
from app.metrics.results import (
    Activity,
    CohortsResult,
    CsatResult,
    NpsResult,
    Purchases,
)

T = TypeVar("T")
T_co = TypeVar("T_co", covariant=True)


@dataclass(frozen=True)
class Scope:
    """What a request asks of a metric: the window, the breakdown, the metric's own
    parameters, and ``customers``, the segment hook.

    ``customers`` restricts every count to a set of customers (``CustomerFilter``: a
    subquery of customer ids, such as a segment's members, or a literal set). The metrics
    whose registry entry has ``segments = True`` pass it to each of their queries; the
    router refuses it for the others.
    """

    window: Window
    by: By | None = None
    activity_days: int = 90
    margin: float = 1.0
    lifespan_years: float | None = None
    period: Period = Period.month
    customers: CustomerFilter | None = None
    # A piece of a series: activity reads only the piece (see ``activity.activity``).
    short: bool = field(default=False)

    def overall(self) -> Self:
        return replace(self, by=None)

    def piece(self, window: Window) -> Self:
        return replace(self, window=window, by=None, short=True)


class Query(Protocol[T_co]):
    def key(self) -> Hashable:
        """What identifies the read: queries with one key are run once."""
        ...

    def merge(self, other: Any) -> "Query[T_co]":
        """One query answering both this one and ``other`` (same key)."""
        ...

    async def run(self, session: AsyncSession) -> T_co: ...


class Fetched:
    """The results of a request's queries, found again by the queries themselves."""

    def __init__(self, results: dict[Hashable, Any]) -> None:
        self._results = results

    def __getitem__(self, query: Query[T]) -> T:
        return cast(T, self._results[query.key()])


def plan(queries: Sequence[Query[Any]]) -> dict[Hashable, Query[Any]]:
    """The distinct reads of ``queries``, by key, each merged with those sharing it."""
    planned: dict[Hashable, Query[Any]] = {}
    for query in queries:
        key = query.key()
        planned[key] = planned[key].merge(query) if key in planned else query
    return planned


@dataclass(frozen=True)
class _Value(Generic[T]):
    def key(self) -> Hashable:
        return self

    def merge(self, other: Any) -> Self:
        return self


@dataclass(frozen=True)
class NpsQuery(_Value[dict[Key, NpsResult]]):
    window: Window
    by: By | None
    customers: CustomerFilter | None

    async def run(self, session: AsyncSession) -> dict[Key, NpsResult]:
        return await surveys.nps(session, self.window, self.by, self.customers)


@dataclass(frozen=True)
class CsatQuery(_Value[dict[Key, CsatResult]]):
    window: Window
    by: By | None
    customers: CustomerFilter | None

    async def run(self, session: AsyncSession) -> dict[Key, CsatResult]:
        return await surveys.csat(session, self.window, self.by, self.customers)


@dataclass(frozen=True)
class ActivityQuery(_Value[dict[Key, Activity]]):
    window: Window
    by: By | None
    activity_days: int
    customers: CustomerFilter | None
    short: bool
    referrals: bool

    @classmethod
    def of(cls, scope: Scope, *, referrals: bool) -> "ActivityQuery":
        return cls(
            scope.window, scope.by, scope.activity_days, scope.customers, scope.short, referrals
        )

    def key(self) -> Hashable:
        # The referral counts ride along on the same pass: one read serves both.
        return replace(self, referrals=False)

    def merge(self, other: Any) -> Self:
        assert isinstance(other, ActivityQuery)
        return replace(self, referrals=self.referrals or other.referrals)

    async def run(self, session: AsyncSession) -> dict[Key, Activity]:
        return await activity.activity(
            session,
            self.window,
            self.by,
            self.activity_days,
            referrals=self.referrals,
            short=self.short,
            customers=self.customers,
        )


@dataclass(frozen=True)
class SeriesActivityQuery(_Value[list[Activity]]):
    """The retention counts of every piece of a series, in one pass."""

    pieces: tuple[Window, ...]
    activity_days: int
    customers: CustomerFilter | None

    async def run(self, session: AsyncSession) -> list[Activity]:
        return await activity.series_activity(
            session, self.pieces, self.activity_days, self.customers
        )


@dataclass(frozen=True)
class PurchasesQuery(_Value[Purchases]):
    window: Window
    by: By | None
    customers: CustomerFilter | None

    async def run(self, session: AsyncSession) -> Purchases:
        return await purchases.purchases(session, self.window, self.by, self.customers)


@dataclass(frozen=True)
class CohortsQuery(_Value[CohortsResult]):
    window: Window
    period: Period
    customers: CustomerFilter | None

    async def run(self, session: AsyncSession) -> CohortsResult:
        return await cohorts.cohorts(session, self.window, self.period, self.customers)


@dataclass(frozen=True)
class StoredFitQuery(_Value[dict[str, Any] | None]):
    """The stored predictive fit whose window ends at ``end``, as stored."""

    end: datetime

    async def run(self, session: AsyncSession) -> dict[str, Any] | None:
        return await fits.latest_answer(session, self.end)
