"""Typed results of the metrics, each ``{value, reason?, ...details}``, and the arithmetic
that turns counts into them.

``value`` is ``None`` with a ``reason`` whenever the metric is undefined (nobody to divide
by), never NaN. The wire shapes (``schemas.py``) add the window, the metric's name and any
series or breakdown around these.
"""

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal, Self

from pydantic import BaseModel, Field

from app.metrics.periods import Window
from app.metrics.queries.common import ratio, rounded

DAYS_PER_YEAR = 365.25


class Result(BaseModel):
    value: float | None = Field(description="The metric; null when undefined (see `reason`).")
    reason: str | None = Field(default=None, description="Why `value` is null.")


class NpsResult(Result):
    responses: int = Field(description="Customers with an NPS answer (their latest counts).")
    promoters: int = Field(description="Latest answers scoring 9-10.")
    passives: int = Field(description="Latest answers scoring 7-8.")
    detractors: int = Field(description="Latest answers scoring 0-6.")

    @classmethod
    def of(cls, responses: int, promoters: int, detractors: int) -> Self:
        value = ratio(100 * (promoters - detractors), responses)
        return cls(
            value=rounded(value, 4),
            reason=None if value is not None else "no NPS answers in the window",
            responses=responses,
            promoters=promoters,
            passives=responses - promoters - detractors,
            detractors=detractors,
        )


class CsatResult(Result):
    responses: int = Field(description="CSAT answers in the window (every answer counts).")
    satisfied: int = Field(description="Answers scoring 4 or 5.")
    mean_score: float | None = Field(description="Mean score, 1-5.")

    @classmethod
    def of(cls, responses: int, satisfied: int, mean: float | None) -> Self:
        value = ratio(100 * satisfied, responses)
        return cls(
            value=rounded(value, 4),
            reason=None if value is not None else "no CSAT answers in the window",
            responses=responses,
            satisfied=satisfied,
            mean_score=rounded(mean, 4) if responses else None,
        )


@dataclass(frozen=True)
class Activity:
    """Counts over the customers with a purchase or renewal in [from - activity_days, to)."""

    active_at_start: int  # S
    active_at_end: int  # E
    retained: int  # active at both instants
    first_time: int  # active at `to`, with no activity ever before `from - activity_days`
    active_in_window: int = 0
    purchasing: int = 0  # with a purchase in the window
    repeating: int = 0  # with 2 or more
    referrers: int = 0  # active in the window, who referred a new customer in it
    referred: int = 0  # the new customers those referred
    referred_purchasers: int = 0  # of whom purchased before `to`


NO_ACTIVITY = Activity(0, 0, 0, 0)


class RetentionResult(Result):
    active_at_start: int = Field(description="S: customers active at `from`.")
    active_at_end: int = Field(description="E: customers active at `to`.")
    new_in_window: int = Field(
        description="N: customers active at `to` who were not active at `from` "
        "(first-time and reactivated)."
    )
    first_time_customers: int = Field(description="Of N: never active before.")
    reactivated_customers: int = Field(description="Of N: active before, lapsed at `from`.")
    retained: int = Field(description="E - N: active at both `from` and `to`.")
    activity_days: int = Field(description="The trailing activity window, in days.")

    @classmethod
    def of(cls, counts: Activity, activity_days: int, churn: bool) -> Self:
        new = counts.active_at_end - counts.retained
        crr = ratio(counts.active_at_end - new, counts.active_at_start)
        value = None if crr is None else (1 - crr if churn else crr)
        return cls(
            value=rounded(value),
            reason=None
            if value is not None
            else "no customer was active at the start of the window",
            active_at_start=counts.active_at_start,
            active_at_end=counts.active_at_end,
            new_in_window=new,
            first_time_customers=counts.first_time,
            reactivated_customers=new - counts.first_time,
            retained=counts.retained,
            activity_days=activity_days,
        )


class RepeatPurchaseResult(Result):
    purchasing_customers: int = Field(description="Customers with 1 or more purchases.")
    repeat_customers: int = Field(description="Customers with 2 or more purchases.")

    @classmethod
    def of(cls, counts: Activity) -> Self:
        value = ratio(counts.repeating, counts.purchasing)
        return cls(
            value=rounded(value),
            reason=None if value is not None else "no customer purchased in the window",
            purchasing_customers=counts.purchasing,
            repeat_customers=counts.repeating,
        )


class ReferralResult(Result):
    active_customers: int = Field(description="Customers with a purchase or renewal.")
    referrers: int = Field(description="Active customers who referred a new customer.")
    referred_customers: int = Field(description="New customers they referred in the window.")
    referred_purchasers: int = Field(
        description="Of those, how many made a purchase (before `to`)."
    )

    @classmethod
    def of(cls, counts: Activity) -> Self:
        value = ratio(counts.referrers, counts.active_in_window)
        return cls(
            value=rounded(value),
            reason=None if value is not None else "no customer was active in the window",
            active_customers=counts.active_in_window,
            referrers=counts.referrers,
            referred_customers=counts.referred,
            referred_purchasers=counts.referred_purchasers,
        )


@dataclass(frozen=True)
class Purchases:
    """The window's purchases, per breakdown key: what historical CLTV is computed from."""

    grouped: dict[str | None, tuple[int, float]]  # orders, revenue net of refunds
    currencies: list[str]


class HistoricalCltvResult(Result):
    method: Literal["historical"]
    average_order_value: float | None = Field(description="Net revenue / orders (currency).")
    purchase_frequency_per_year: float | None = Field(
        description="Orders per purchasing customer, scaled to a year."
    )
    lifespan_years: float | None = Field(description="Expected customer lifespan, in years.")
    lifespan_source: Literal["given", "retention"]
    retention: float | None = Field(description="CRR of the window (lifespan estimate).")
    margin: float
    orders: int
    customers: int
    revenue: float = Field(description="Purchases minus their refunds, in the shop's currency.")
    currencies: list[str] = Field(description="Currencies seen; amounts are summed as is.")

    @classmethod
    def of(
        cls,
        *,
        orders: int,
        customers: int,
        revenue: float,
        window: Window,
        margin: float,
        lifespan_years: float | None,
        retention: float | None,
        currencies: Sequence[str],
    ) -> Self:
        aov = ratio(revenue, orders)
        per_customer = ratio(orders, customers)
        frequency = None if per_customer is None else per_customer * DAYS_PER_YEAR / window.days
        lifespan = lifespan_years
        reason = None
        if lifespan is None:
            if retention is None:
                reason = "no customer was active at the start of the window to estimate lifespan"
            elif retention >= 1:
                reason = "no churn in the window: the lifespan is unbounded; give lifespan_years"
            else:
                annual_retention = retention ** (DAYS_PER_YEAR / window.days)
                lifespan = 1 / (1 - annual_retention)
        if aov is None or frequency is None:
            reason = "no purchase in the window"
        value = None
        if reason is None and aov is not None and frequency is not None and lifespan is not None:
            value = aov * frequency * lifespan * margin
        return cls(
            value=rounded(value, 4),
            reason=reason,
            method="historical",
            average_order_value=rounded(aov, 4),
            purchase_frequency_per_year=rounded(frequency),
            lifespan_years=rounded(lifespan),
            lifespan_source="given" if lifespan_years is not None else "retention",
            retention=rounded(retention),
            margin=margin,
            orders=orders,
            customers=customers,
            revenue=round(revenue, 4),
            currencies=list(currencies),
        )


class CohortRow(BaseModel):
    cohort: str = Field(description="Start (YYYY-MM-DD) of the acquisition period.")
    size: int = Field(description="Customers whose first purchase fell in that period.")
    active: list[int] = Field(description="Customers of the cohort purchasing k periods later.")
    share_active: list[float] = Field(description="`active[k] / size`.")


class CohortsResult(Result):
    period: Literal["week", "month"]
    cohort_basis: Literal["first_purchase"]
    partial_period: str | None = Field(
        default=None,
        description="Start (YYYY-MM-DD) of the window's last period when `to` cuts it short "
        "(the current month, for a window ending now): the last entry of every row counts "
        "the purchases so far, and `value` leaves that period out. Null when every period "
        "is complete.",
    )
    cohorts: list[CohortRow]
