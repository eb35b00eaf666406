"""The export of everything held about a customer, and the answer to an erasure."""

from datetime import datetime
from decimal import Decimal

from pydantic import BaseModel, ConfigDict, Field

from app.customers.schemas import Aggregates, BadgeOut, PerkOut, ProfileOut
from app.events.read_schemas import StoredEventDetail
from app.ledger.schemas import BalanceOut, LedgerEntryOut

EXPORT_FORMAT = "reinforce.customer-export.v1"


class ExportedCustomer(BaseModel):
    id: str
    created_at: datetime
    first_seen_at: datetime
    tier: str | None
    tier_changed_at: datetime | None
    profile: ProfileOut
    aggregates: Aggregates
    points: BalanceOut


class SurveyAnswerOut(BaseModel):
    event_id: str
    occurred_at: datetime
    channel: str | None
    survey: str = Field(description="nps or csat.")
    score: int
    comment: str | None


class OrderOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: str
    purchase_event_id: str
    amount: Decimal
    currency: str
    refunded_amount: Decimal
    points_earned: int
    points_reversed: int


class ExportedReferral(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    referred_customer_id: str = Field(description="The customer they referred.")
    event_id: str
    occurred_at: datetime


class ExportedExposure(BaseModel):
    """An experiment the customer was exposed to, and in which variant."""

    model_config = ConfigDict(from_attributes=True)

    experiment_id: str
    variant: str
    exposed_at: datetime
    event_id: str


class ExportedScore(BaseModel):
    """A leaderboard score row (listed unless the customer opted out)."""

    model_config = ConfigDict(from_attributes=True)

    leaderboard_id: str
    period_key: str
    score: Decimal
    reached_at: datetime


class ExportedStreak(BaseModel):
    """The periods in which the customer kept a streak going, as [first, last] runs of
    period numbers (UTC days since 0001-01-01, ISO weeks since then, or months)."""

    model_config = ConfigDict(from_attributes=True)

    streak_id: str
    periods: list[list[int]]


class ExportedChallengeProgress(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    challenge_id: str
    window_start: datetime
    deadline: datetime
    progress: Decimal
    window_completed: bool
    completions: int
    completed_at: datetime | None


class CustomerExport(BaseModel):
    """Everything held about one customer (GDPR article 15), one list per kind of record;
    each list is complete, oldest first."""

    format: str = Field(default=EXPORT_FORMAT, description="Changes if the layout does.")
    exported_at: datetime
    customer: ExportedCustomer
    events: list[StoredEventDetail] = Field(description="Each with the answer it got.")
    ledger: list[LedgerEntryOut]
    badges: list[BadgeOut]
    perks: list[PerkOut] = Field(description="Every perk, lapsed ones too.")
    survey_answers: list[SurveyAnswerOut]
    orders: list[OrderOut]
    referrals: list[ExportedReferral] = Field(description="The referrals the customer made.")
    experiments: list[ExportedExposure] = Field(
        default_factory=list, description="The experiments the customer was exposed to."
    )
    leaderboard_scores: list[ExportedScore] = Field(default_factory=list)
    streaks: list[ExportedStreak] = Field(default_factory=list)
    challenges: list[ExportedChallengeProgress] = Field(default_factory=list)


class ErasureOut(BaseModel):
    customer_id: str
    erased: bool = Field(
        description="False when there was nothing to erase: the customer was erased already "
        "or never seen. Nothing changes and no webhook is sent then."
    )
    erased_at: datetime | None
    records: dict[str, int] = Field(
        default_factory=dict,
        description="Rows moved to the pseudonym, per table; the personal data in them removed.",
    )
