"""One registry of metrics: one object per metric, saying what it is called, which
queries it is computed from, its typed result and wire shape, which breakdowns and series
it takes, and whether it can be restricted to a segment.

The router and the summary look metrics up here instead of branching on their names;
``service`` runs their queries. A new metric is a class here and a line in ``REGISTRY``.
"""

from abc import ABC, abstractmethod
from collections.abc import Callable, Sequence
from enum import StrEnum
from typing import Any, ClassVar

from pydantic import BaseModel

from app.metrics.periods import Period, Window
from app.metrics.plan import (
    ActivityQuery,
    CohortsQuery,
    CsatQuery,
    Fetched,
    NpsQuery,
    PurchasesQuery,
    Query,
    Scope,
    SeriesActivityQuery,
    StoredFitQuery,
)
from app.metrics.predictive_results import PredictiveCltvResult
from app.metrics.queries.common import By, Key, UnsupportedBreakdown
from app.metrics.results import (
    NO_ACTIVITY,
    Activity,
    CohortsResult,
    CsatResult,
    HistoricalCltvResult,
    NpsResult,
    Purchases,
    ReferralResult,
    RepeatPurchaseResult,
    Result,
    RetentionResult,
)
from app.metrics.schemas import (
    CohortsOut,
    CsatOut,
    HistoricalCltvOut,
    NpsOut,
    PredictiveCltvOut,
    ReferralOut,
    RepeatPurchaseOut,
    RetentionOut,
)


class MetricName(StrEnum):
    nps = "nps"
    csat = "csat"
    retention = "retention"
    churn = "churn"
    repeat_purchase_rate = "repeat-purchase-rate"
    referral_rate = "referral-rate"
    cltv = "cltv"
    cohorts = "cohorts"


CUSTOMER_LEVEL = (
    "`{name}` is a customer-level metric and a customer's events span several channels; "
    "break it down by `tier`, or use `nps` or `csat` by channel."
)
BOTH = "Ask for a series (`interval`) or a breakdown (`by`), not both at once."


class Metric(ABC):
    """A metric: its name (and method), queries, typed result and what it supports.

    ``queries`` and ``results`` compute it over a scope (with or without a breakdown);
    ``series_queries`` and ``series_results`` over each piece of a series, by default
    each piece on its own. ``light`` metrics are index range reads of a few milliseconds:
    their queries run in turn on the request's session, as a connection each would cost
    more than it saves.
    """

    name: ClassVar[MetricName]
    method: ClassVar[str | None] = None
    result: ClassVar[type[Result]]
    out: ClassVar[type[BaseModel]]
    breakdowns: ClassVar[frozenset[By]] = frozenset({By.tier})
    series: ClassVar[bool] = True
    segments: ClassVar[bool] = True
    light: ClassVar[bool] = False
    refusal: ClassVar[str] = CUSTOMER_LEVEL

    @property
    def summary_key(self) -> str:
        return self.name.value

    def refuse_segment(self) -> None:
        """Raise ``UnsupportedBreakdown`` unless the metric can be restricted to a segment."""
        if not self.segments:
            raise UnsupportedBreakdown(
                f"`{self.name.value}` ({self.method}) is one fit over every customer; it takes "
                "no `segment`.",
                extra={"metric": self.name.value},
            )

    def refuse(self, by: By | None, interval: Period | None) -> None:
        """Raise ``UnsupportedBreakdown`` unless the metric takes this breakdown or series."""
        if interval is not None and by is not None:
            raise UnsupportedBreakdown(BOTH, extra={"metric": self.name.value})
        if interval is not None and not self.series:
            raise UnsupportedBreakdown(self.refusal, extra={"metric": self.name.value})
        if by is not None and by not in self.breakdowns:
            raise UnsupportedBreakdown(
                self.refusal.format(name=self.name.value),
                extra={"metric": self.name.value, "by": by.value},
            )

    @abstractmethod
    def queries(self, scope: Scope) -> list[Query[Any]]:
        """The reads this metric needs for ``scope``."""

    def results(self, scope: Scope, fetched: Fetched) -> dict[Key, Result]:
        """The metric's typed result per group, from what its queries fetched. Every metric
        but predictive CLTV (one stored fit, read through ``stored``) has them."""
        raise TypeError(f"{type(self).__name__} has no per-group results")

    def series_queries(self, scope: Scope, pieces: Sequence[Window]) -> list[Query[Any]]:
        return [query for piece in pieces for query in self.queries(scope.piece(piece))]

    def series_results(
        self, scope: Scope, pieces: Sequence[Window], fetched: Fetched
    ) -> list[Result]:
        return [self.results(scope.piece(piece), fetched)[None] for piece in pieces]


def _per_key(
    counts: dict[Key, Activity],
    by: By | None,
    counted: Callable[[Activity], bool],
    make: Callable[[Activity], Result],
) -> dict[Key, Result]:
    """One result per breakdown key with something to count; without a breakdown, always
    the one (of zero counts, when nothing was)."""
    results = {key: make(a) for key, a in counts.items() if counted(a)}
    return results or ({} if by else {None: make(NO_ACTIVITY)})


class Nps(Metric):
    name = MetricName.nps
    result = NpsResult
    out = NpsOut
    breakdowns = frozenset({By.tier, By.channel})
    light = True

    def queries(self, scope: Scope) -> list[Query[Any]]:
        return [NpsQuery(scope.window, scope.by, scope.customers)]

    def results(self, scope: Scope, fetched: Fetched) -> dict[Key, Result]:
        return dict(fetched[NpsQuery(scope.window, scope.by, scope.customers)])


class Csat(Metric):
    name = MetricName.csat
    result = CsatResult
    out = CsatOut
    breakdowns = frozenset({By.tier, By.channel})
    light = True

    def queries(self, scope: Scope) -> list[Query[Any]]:
        return [CsatQuery(scope.window, scope.by, scope.customers)]

    def results(self, scope: Scope, fetched: Fetched) -> dict[Key, Result]:
        return dict(fetched[CsatQuery(scope.window, scope.by, scope.customers)])


class Retention(Metric):
    name = MetricName.retention
    result = RetentionResult
    out = RetentionOut
    churn: ClassVar[bool] = False

    def queries(self, scope: Scope) -> list[Query[Any]]:
        return [ActivityQuery.of(scope, referrals=False)]

    def results(self, scope: Scope, fetched: Fetched) -> dict[Key, Result]:
        counts = fetched[ActivityQuery.of(scope, referrals=False)]
        return retention_of(counts, scope, churn=self.churn)

    # Every piece's retention in one pass over the activity, rather than one per piece.
    def series_queries(self, scope: Scope, pieces: Sequence[Window]) -> list[Query[Any]]:
        return [SeriesActivityQuery(tuple(pieces), scope.activity_days, scope.customers)]

    def series_results(
        self, scope: Scope, pieces: Sequence[Window], fetched: Fetched
    ) -> list[Result]:
        counted = fetched[SeriesActivityQuery(tuple(pieces), scope.activity_days, scope.customers)]
        return [
            retention_of({None: counts}, scope.piece(piece), churn=self.churn)[None]
            for piece, counts in zip(pieces, counted, strict=True)
        ]


def retention_of(counts: dict[Key, Activity], scope: Scope, *, churn: bool) -> dict[Key, Result]:
    return _per_key(
        counts,
        scope.by,
        lambda a: bool(a.active_at_start or a.active_at_end),
        lambda a: RetentionResult.of(a, scope.activity_days, churn),
    )


class Churn(Retention):
    name = MetricName.churn
    churn = True


class RepeatPurchaseRate(Metric):
    name = MetricName.repeat_purchase_rate
    result = RepeatPurchaseResult
    out = RepeatPurchaseOut

    def queries(self, scope: Scope) -> list[Query[Any]]:
        return [ActivityQuery.of(scope, referrals=False)]

    def results(self, scope: Scope, fetched: Fetched) -> dict[Key, Result]:
        counts = fetched[ActivityQuery.of(scope, referrals=False)]
        return _per_key(counts, scope.by, lambda a: bool(a.purchasing), RepeatPurchaseResult.of)


class ReferralRate(Metric):
    name = MetricName.referral_rate
    result = ReferralResult
    out = ReferralOut

    def queries(self, scope: Scope) -> list[Query[Any]]:
        return [ActivityQuery.of(scope, referrals=True)]

    def results(self, scope: Scope, fetched: Fetched) -> dict[Key, Result]:
        counts = fetched[ActivityQuery.of(scope, referrals=True)]
        return _per_key(
            counts,
            scope.by,
            lambda a: bool(a.active_in_window) or scope.by is None,
            ReferralResult.of,
        )


class HistoricalCltv(Metric):
    name = MetricName.cltv
    method = "historical"
    result = HistoricalCltvResult
    out = HistoricalCltvOut

    def queries(self, scope: Scope) -> list[Query[Any]]:
        return [
            PurchasesQuery(scope.window, scope.by, scope.customers),
            ActivityQuery.of(scope, referrals=False),
        ]

    def results(self, scope: Scope, fetched: Fetched) -> dict[Key, Result]:
        return self._from(
            scope,
            fetched[PurchasesQuery(scope.window, scope.by, scope.customers)],
            fetched[ActivityQuery.of(scope, referrals=False)],
        )

    def _from(
        self, scope: Scope, bought: Purchases, counts: dict[Key, Activity]
    ) -> dict[Key, Result]:
        retained = retention_of(counts, scope, churn=False)
        results: dict[Key, Result] = {}
        for key, (orders, revenue) in bought.grouped.items():
            if not orders and scope.by:
                continue
            retention = retained.get(key)
            results[key] = HistoricalCltvResult.of(
                orders=orders,
                customers=counts[key].purchasing if key in counts else 0,
                revenue=revenue,
                window=scope.window,
                margin=scope.margin,
                lifespan_years=scope.lifespan_years,
                retention=None if retention is None else retention.value,
                currencies=bought.currencies,
            )
        return results

    # The pieces' retention in one pass (as for retention), and each piece's purchases.
    def series_queries(self, scope: Scope, pieces: Sequence[Window]) -> list[Query[Any]]:
        return [
            SeriesActivityQuery(tuple(pieces), scope.activity_days, scope.customers),
            *(PurchasesQuery(piece, None, scope.customers) for piece in pieces),
        ]

    def series_results(
        self, scope: Scope, pieces: Sequence[Window], fetched: Fetched
    ) -> list[Result]:
        counted = fetched[SeriesActivityQuery(tuple(pieces), scope.activity_days, scope.customers)]
        return [
            self._from(
                scope.piece(piece),
                fetched[PurchasesQuery(piece, None, scope.customers)],
                {None: counts},
            )[None]
            for piece, counts in zip(pieces, counted, strict=True)
        ]


class PredictiveCltv(Metric):
    """Read by ``predictive.read`` (its GET) and fitted by ``predictive.refit`` (its POST):
    a fit over every customer, with its own parameters. Here, for the registry and the
    summary, which shows the window's stored fit."""

    name = MetricName.cltv
    method = "predictive"
    result = PredictiveCltvResult
    out = PredictiveCltvOut
    breakdowns = frozenset()
    series = False
    segments = False
    refusal = (
        "Predictive `cltv` is one fit over all customers; it takes neither `interval` nor `by`."
    )

    @property
    def summary_key(self) -> str:
        return "cltv_predictive"

    def queries(self, scope: Scope) -> list[Query[Any]]:
        return [StoredFitQuery(scope.window.end)]

    def stored(self, scope: Scope, fetched: Fetched) -> PredictiveCltvOut | None:
        answer = fetched[StoredFitQuery(scope.window.end)]
        if answer is None:
            return None
        return PredictiveCltvOut.model_validate(
            {**answer, "metric": "cltv", "method": "predictive"}
        )


class Cohorts(Metric):
    name = MetricName.cohorts
    result = CohortsResult
    out = CohortsOut
    breakdowns = frozenset()
    series = False
    refusal = "`cohorts` is already a matrix over time; it takes `period`, not `interval` or `by`."

    def queries(self, scope: Scope) -> list[Query[Any]]:
        return [CohortsQuery(scope.window, scope.period, scope.customers)]

    def results(self, scope: Scope, fetched: Fetched) -> dict[Key, Result]:
        return {None: fetched[CohortsQuery(scope.window, scope.period, scope.customers)]}


REGISTRY: tuple[Metric, ...] = (
    Nps(),
    Csat(),
    Retention(),
    Churn(),
    RepeatPurchaseRate(),
    ReferralRate(),
    HistoricalCltv(),
    PredictiveCltv(),
    Cohorts(),
)
_BY_NAME = {(metric.name, metric.method): metric for metric in REGISTRY}


def metric(name: MetricName, method: str = "historical") -> Metric:
    """The registry's metric of that name (and, for `cltv`, method)."""
    return _BY_NAME.get((name, method)) or _BY_NAME[(name, None)]
