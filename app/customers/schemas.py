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


class CustomerOut(BaseModel):
    id: str
    first_seen_at: datetime = Field(description="When their earliest event happened.")
    tier: str | None
    badges: list[BadgeOut]
    perks: list[PerkOut] = Field(description="Perks in force now.")
    points: BalanceOut
    aggregates: Aggregates
