from datetime import date, datetime
from decimal import Decimal
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, field_validator

from app.ledger.schemas import BalanceOut
from app.models.base import utcnow
from app.models.customer import PROFILE_TEXT_LENGTH
from app.rules.streak_schemas import CustomerStreakOut

ProfileText = Annotated[
    str, StringConstraints(min_length=1, max_length=PROFILE_TEXT_LENGTH, strip_whitespace=True)
]
EARLIEST_BIRTHDAY = date(1900, 1, 1)


class ProfileOut(BaseModel):
    """What the shop keeps about the customer here (`PATCH /v1/customers/{id}`)."""

    model_config = ConfigDict(from_attributes=True)

    display_name: str | None
    reference: str | None = Field(description="The shop's own opaque reference.")
    marketing_opt_in: bool = Field(description="Consented to marketing messages.")
    leaderboard_opt_out: bool = Field(description="Asked not to appear on leaderboards.")
    birthday: date | None
    profile_updated_at: datetime | None = Field(description="Last change through PATCH.")


class ProfileIn(BaseModel):
    """A partial update: only the fields sent change; `null` clears a text or the birthday."""

    model_config = ConfigDict(extra="forbid")

    display_name: ProfileText | None = None
    reference: ProfileText | None = Field(
        default=None, description="An opaque reference of the shop's, e.g. its CRM id."
    )
    marketing_opt_in: bool = False
    leaderboard_opt_out: bool = False
    birthday: date | None = Field(
        default=None, description="Between 1900-01-01 and today.", ge=EARLIEST_BIRTHDAY
    )

    @field_validator("birthday")
    @classmethod
    def _not_in_the_future(cls, value: date | None) -> date | None:
        if value is not None and value > utcnow().date():
            raise ValueError("a birthday cannot be in the future")
        return value


class PerkOut(BaseModel):
    perk: str
    granted_at: datetime
    expires_at: datetime | None


class BadgeOut(BaseModel):
    badge: str
    awarded_at: datetime


class Aggregates(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    purchase_count: int
    lifetime_spend: Decimal = Field(description="Purchases minus refunds, in the shop's currency.")
    first_purchase_at: datetime | None
    last_purchase_at: datetime | None
    referral_count: int


class PredictionOut(BaseModel):
    """From the latest predictive CLTV fit (`GET /v1/metrics/cltv?method=predictive`)."""

    predicted_clv: float | None = Field(
        description="Discounted CLTV over the fit's horizon, in the shop's currency."
    )
    p_alive: float = Field(description="Probability the customer is still active, 0..1.")
    expected_transactions: float = Field(description="Expected transactions over the horizon.")
    fitted_at: datetime
    window_to: datetime = Field(description="The fit used purchases before this instant.")
    time_unit: str
    horizon: float = Field(description="In time units.")
    discount_rate: float = Field(description="Per time unit.")


class CustomerFactsOut(BaseModel):
    """The facts segments and rules target, as of now (see the README's definitions)."""

    recency_days: int | None = Field(description="Whole days since the latest purchase.")
    frequency: int = Field(description="Purchases in the trailing frequency window.")
    monetary: float | None = Field(description="Average order value.")
    rfm_score: str | None = Field(description="Recency, frequency, monetary quintiles, e.g. 545.")
    probability_alive: float | None = Field(description="From the latest predictive fit.")
    predicted_clv: float | None = Field(description="From the latest predictive fit.")
    last_nps: int | None
    last_csat: int | None
    segments: list[str] = Field(description="Ids of the saved segments they belong to.")


class CustomerOut(BaseModel):
    id: str
    first_seen_at: datetime = Field(description="When their earliest event happened.")
    tier: str | None
    badges: list[BadgeOut]
    perks: list[PerkOut] = Field(description="Perks in force now.")
    points: BalanceOut
    aggregates: Aggregates
    profile: ProfileOut
    streaks: list[CustomerStreakOut] = Field(
        default_factory=list, description="Every defined streak, as of now."
    )
    prediction: PredictionOut | None = Field(
        default=None,
        description="Predicted CLTV and P(alive) from the latest fit; null when there is no "
        "fit or it did not include this customer.",
    )
    facts: CustomerFactsOut | None = Field(
        default=None, description="The targeting facts (on the shop's route only)."
    )


class CustomerSummary(BaseModel):
    """A customer as the list shows it (without the balance, badges and perks)."""

    id: str
    created_at: datetime = Field(description="When the service first saw the customer.")
    first_seen_at: datetime = Field(description="When their earliest event happened.")
    tier: str | None
    aggregates: Aggregates
    profile: ProfileOut
