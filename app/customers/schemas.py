from datetime import datetime
from decimal import Decimal

from pydantic import BaseModel, Field

from app.ledger.schemas import BalanceOut


class PerkOut(BaseModel):
    perk: str
    granted_at: datetime
    expires_at: datetime | None


class BadgeOut(BaseModel):
    badge: str
    awarded_at: datetime


class Aggregates(BaseModel):
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


class CustomerOut(BaseModel):
    id: str
    first_seen_at: datetime = Field(description="When their earliest event happened.")
    tier: str | None
    badges: list[BadgeOut]
    perks: list[PerkOut] = Field(description="Perks in force now.")
    points: BalanceOut
    aggregates: Aggregates
    prediction: PredictionOut | None = Field(
        default=None,
        description="Predicted CLTV and P(alive) from the latest fit; null when there is no "
        "fit or it did not include this customer.",
    )
