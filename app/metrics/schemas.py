"""Wire shapes of the metrics: ``{metric, value, from, to, ...details}``, with a typed
series and breakdown for each metric that has them."""

from datetime import datetime
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field
from typing_extensions import TypeAliasType

from app.metrics.periods import resolve
from app.metrics.predictive import MAX_TOP, PredictiveRequest
from app.metrics.predictive_results import PredictiveCltvResult
from app.metrics.results import (
    CohortsResult,
    CsatResult,
    HistoricalCltvResult,
    NpsResult,
    ReferralResult,
    RepeatPurchaseResult,
    RetentionResult,
)
from app.metrics.rewards import LiabilityOut, RewardsMetricOut
from app.schemas import Instant

SERIES = (
    "With `interval`: the metric on each period of the window, oldest first, each "
    "`{from, to, value, ...details}`."
)
GROUPS = (
    "With `by`: `{key, value, ...details}` per tier or channel (key null: no tier, or no channel)."
)


class Envelope(BaseModel):
    model_config = ConfigDict(populate_by_name=True)

    from_: datetime | None = Field(
        alias="from", description="Start of the window (inclusive, UTC); null when unbounded."
    )
    to: datetime = Field(description="End of the window (exclusive, UTC).")
    interval: str | None = Field(default=None, description="The series' period, if asked.")
    by: str | None = Field(default=None, description="The breakdown, if asked.")


class Piece(BaseModel):
    model_config = ConfigDict(populate_by_name=True)

    from_: datetime = Field(alias="from", description="Start of the period (inclusive, UTC).")
    to: datetime = Field(description="End of the period (exclusive, UTC).")


class Group(BaseModel):
    key: str | None = Field(description="The tier or channel; null: none.")


class NpsPiece(Piece, NpsResult):
    pass


class NpsGroup(Group, NpsResult):
    pass


class NpsOut(Envelope, NpsResult):
    metric: Literal["nps"]
    series: list[NpsPiece] | None = Field(default=None, description=SERIES)
    groups: list[NpsGroup] | None = Field(default=None, description=GROUPS)


class CsatPiece(Piece, CsatResult):
    pass


class CsatGroup(Group, CsatResult):
    pass


class CsatOut(Envelope, CsatResult):
    metric: Literal["csat"]
    series: list[CsatPiece] | None = Field(default=None, description=SERIES)
    groups: list[CsatGroup] | None = Field(default=None, description=GROUPS)


class RetentionPiece(Piece, RetentionResult):
    pass


class RetentionGroup(Group, RetentionResult):
    pass


class RetentionOut(Envelope, RetentionResult):
    metric: Literal["retention", "churn"]
    series: list[RetentionPiece] | None = Field(default=None, description=SERIES)
    groups: list[RetentionGroup] | None = Field(default=None, description=GROUPS)


class RepeatPurchasePiece(Piece, RepeatPurchaseResult):
    pass


class RepeatPurchaseGroup(Group, RepeatPurchaseResult):
    pass


class RepeatPurchaseOut(Envelope, RepeatPurchaseResult):
    metric: Literal["repeat-purchase-rate"]
    series: list[RepeatPurchasePiece] | None = Field(default=None, description=SERIES)
    groups: list[RepeatPurchaseGroup] | None = Field(default=None, description=GROUPS)


class ReferralPiece(Piece, ReferralResult):
    pass


class ReferralGroup(Group, ReferralResult):
    pass


class ReferralOut(Envelope, ReferralResult):
    metric: Literal["referral-rate"]
    series: list[ReferralPiece] | None = Field(default=None, description=SERIES)
    groups: list[ReferralGroup] | None = Field(default=None, description=GROUPS)


class HistoricalCltvPiece(Piece, HistoricalCltvResult):
    pass


class HistoricalCltvGroup(Group, HistoricalCltvResult):
    pass


class HistoricalCltvOut(Envelope, HistoricalCltvResult):
    metric: Literal["cltv"]
    series: list[HistoricalCltvPiece] | None = Field(default=None, description=SERIES)
    groups: list[HistoricalCltvGroup] | None = Field(default=None, description=GROUPS)


class PredictiveCltvOut(Envelope, PredictiveCltvResult):
    metric: Literal["cltv"]


class CohortsOut(Envelope, CohortsResult):
    metric: Literal["cohorts"]


# A named union, so that the document's discriminator maps `cltv` to a reference (OpenAPI
# allows only references there), and that schema tells the two methods apart in turn.
CltvOut = TypeAliasType(
    "CltvOut",
    Annotated[HistoricalCltvOut | PredictiveCltvOut, Field(discriminator="method")],
)

MetricOut = Annotated[
    NpsOut | CsatOut | RetentionOut | RepeatPurchaseOut | ReferralOut | CltvOut | CohortsOut,
    Field(discriminator="metric"),
]


class SummaryMetrics(BaseModel):
    model_config = ConfigDict(populate_by_name=True)

    nps: NpsOut
    csat: CsatOut
    retention: RetentionOut
    churn: RetentionOut
    repeat_purchase_rate: RepeatPurchaseOut = Field(alias="repeat-purchase-rate")
    referral_rate: ReferralOut = Field(alias="referral-rate")
    cltv: HistoricalCltvOut
    cohorts: CohortsOut
    cltv_predictive: PredictiveCltvOut | None = Field(
        description="The stored predictive fit whose window ends at `to`, as last stored; "
        "null when there is none (the summary never fits)."
    )
    rewards: RewardsMetricOut = Field(description="As `GET /v1/metrics/rewards` answers.")
    liability: LiabilityOut = Field(
        description="As `GET /v1/metrics/liability` answers: as of now, whatever the window."
    )


class SummaryOut(BaseModel):
    model_config = ConfigDict(populate_by_name=True)

    from_: datetime = Field(alias="from")
    to: datetime
    metrics: SummaryMetrics = Field(
        description="Each metric's answer for the window, by name, as `GET /v1/metrics/{name}` "
        "gives it with its default parameters."
    )


class CltvFitIn(BaseModel):
    """What to fit: the window and the settings the stored answer is computed with."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    from_: Instant | None = Field(
        default=None,
        alias="from",
        description="Only customers whose first purchase is on or after it (an acquisition "
        "cohort); default: every customer. Years 1970 to 9000, before `to`.",
    )
    to: Instant | None = Field(
        default=None,
        description="The fit reads every purchase before it (a date includes that day); "
        "default: now. Years 1970 to 9000.",
    )
    time_unit: Literal["day", "week"] = Field(default="week", description="The model's time unit.")
    horizon_months: int = Field(
        default=12, ge=0, le=120, description="Months of future purchases valued."
    )
    discount_rate: float = Field(
        default=0.10, ge=0, le=1, description="Annual discount rate (0.10 is 10%)."
    )
    margin: float = Field(default=1.0, gt=0, le=1, description="Gross margin applied.")
    top: int = Field(default=10, ge=0, le=MAX_TOP, description="Top customers to list.")

    def request(self, now: datetime) -> PredictiveRequest:
        """The fit this body asks for, its window resolved as of ``now``."""
        window = resolve(self.from_, self.to, now)
        return PredictiveRequest(
            cohort_start=window.start if self.from_ is not None else None,
            end=window.end,
            time_unit=self.time_unit,
            horizon_months=self.horizon_months,
            annual_discount_rate=self.discount_rate,
            margin=self.margin,
            top=self.top,
        )
