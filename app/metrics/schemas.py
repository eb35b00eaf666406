"""Wire shapes of the metrics: ``{metric, value, from, to, ...details}``."""

from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field


class MetricBase(BaseModel):
    model_config = ConfigDict(populate_by_name=True)

    value: float | None = Field(description="The metric; null when undefined (see `reason`).")
    from_: datetime | None = Field(
        alias="from", description="Start of the window (inclusive, UTC); null when unbounded."
    )
    to: datetime = Field(description="End of the window (exclusive, UTC).")
    reason: str | None = Field(default=None, description="Why `value` is null.")
    interval: str | None = Field(default=None, description="The series' period, if asked.")
    series: list[dict[str, Any]] | None = Field(
        default=None,
        description="With `interval`: the metric on each period of the window, oldest first, "
        "each `{from, to, value, ...details}`.",
    )
    by: str | None = Field(default=None, description="The breakdown, if asked.")
    groups: list[dict[str, Any]] | None = Field(
        default=None,
        description="With `by`: `{key, value, ...details}` per tier or channel "
        "(key null: no tier, or no channel).",
    )


class NpsOut(MetricBase):
    metric: Literal["nps"]
    responses: int = Field(description="Customers with an NPS answer (their latest counts).")
    promoters: int = Field(description="Latest answers scoring 9-10.")
    passives: int = Field(description="Latest answers scoring 7-8.")
    detractors: int = Field(description="Latest answers scoring 0-6.")


class CsatOut(MetricBase):
    metric: Literal["csat"]
    responses: int = Field(description="CSAT answers in the window (every answer counts).")
    satisfied: int = Field(description="Answers scoring 4 or 5.")
    mean_score: float | None = Field(description="Mean score, 1-5.")


class RetentionOut(MetricBase):
    metric: Literal["retention", "churn"]
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


class RepeatPurchaseOut(MetricBase):
    metric: Literal["repeat-purchase-rate"]
    purchasing_customers: int = Field(description="Customers with 1 or more purchases.")
    repeat_customers: int = Field(description="Customers with 2 or more purchases.")


class ReferralOut(MetricBase):
    metric: Literal["referral-rate"]
    active_customers: int = Field(description="Customers with a purchase or renewal.")
    referrers: int = Field(description="Active customers who referred a new customer.")
    referred_customers: int = Field(description="New customers they referred in the window.")
    referred_purchasers: int = Field(
        description="Of those, how many made a purchase (before `to`)."
    )


class HistoricalCltvOut(MetricBase):
    metric: Literal["cltv"]
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


class PredictiveCltvOut(MetricBase):
    metric: Literal["cltv"]
    method: Literal["predictive"]
    time_unit: Literal["day", "week"]
    horizon_months: int = Field(description="Months of future purchases valued.")
    annual_discount_rate: float = Field(description="Discount rate per year (0.10 is 10%).")
    margin: float
    customers: int = Field(description="Customers in the fit (a purchase before `to`).")
    repeat_customers: int = Field(description="Customers with a repeat transaction.")
    fitted_at: datetime = Field(description="When the fit was computed.")
    cached: bool = Field(description="Whether the fit's parameters came from the cache.")
    params: dict[str, float] = Field(
        description="BG/NBD `r`, `alpha` (in time units), `a`, `b`; Gamma-Gamma `p`, `q`, "
        "`gamma` (in currency)."
    )
    fit: dict[str, Any] = Field(description="Log-likelihoods and the Gamma-Gamma sample size.")
    expected_transactions: float = Field(
        description="Expected transactions of all customers over the horizon."
    )
    total_clv: float = Field(description="Sum of the customers' predicted CLTV.")
    p_alive: dict[str, Any] = Field(
        description="P(alive) over the customers: `mean`, `quantiles` (p10..p90) and a "
        "10-bin `histogram` of `{from, to, customers}`."
    )
    top_customers: list[dict[str, Any]] = Field(
        description="Highest predicted CLTV first: `customer_id`, `predicted_clv`, `p_alive`, "
        "`expected_transactions`, and the model inputs `frequency`, `recency`, `T`, `monetary`."
    )


class CohortRow(BaseModel):
    cohort: str = Field(description="Start (YYYY-MM-DD) of the acquisition period.")
    size: int = Field(description="Customers whose first purchase fell in that period.")
    active: list[int] = Field(description="Customers of the cohort purchasing k periods later.")
    share_active: list[float] = Field(description="`active[k] / size`.")


class CohortsOut(MetricBase):
    metric: Literal["cohorts"]
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


MetricOut = Annotated[
    NpsOut
    | CsatOut
    | RetentionOut
    | RepeatPurchaseOut
    | ReferralOut
    | Annotated[HistoricalCltvOut | PredictiveCltvOut, Field(discriminator="method")]
    | CohortsOut,
    Field(discriminator="metric"),
]


class SummaryOut(BaseModel):
    model_config = ConfigDict(populate_by_name=True)

    from_: datetime = Field(alias="from")
    to: datetime
    metrics: dict[str, dict[str, Any] | None] = Field(
        description="Each metric's answer for the window, by name, as `GET /v1/metrics/{name}` "
        "gives it; `cltv_predictive` is the cached fit for the window, or null."
    )
