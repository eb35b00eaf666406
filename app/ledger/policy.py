"""How points are dated and taken back, and how often a referral code earns: pure rules
the reducer and the ledger share."""

from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

from app.config import Settings
from app.events.types import EventType
from app.rules.schemas import Period


@dataclass(frozen=True, slots=True)
class PointsPolicy:
    pending_days: int
    validity_days: int
    allow_negative: bool
    # Referrals one referrer's code may record per period; 0: no cap.
    referral_cap: int = 0
    referral_cap_period: Period = "month"
    # The customer.frequency fact's trailing window, which the pipeline's loader reads.
    frequency_days: int = 365

    @classmethod
    def from_settings(cls, settings: Settings) -> "PointsPolicy":
        return cls(
            pending_days=settings.points_pending_days,
            validity_days=settings.points_validity_days,
            allow_negative=settings.refund_allow_negative_balance,
            referral_cap=settings.referral_code_cap,
            referral_cap_period=settings.referral_code_cap_period,
            frequency_days=settings.frequency_window_days,
        )

    def lot_dates(self, event: Any) -> tuple[datetime, datetime | None]:
        """When an event's points become available, and when they expire."""
        # The return window only makes sense for what a purchase earned.
        pending = self.pending_days if event.type is EventType.purchase else 0
        available_at = event.occurred_at + timedelta(days=pending)
        expires_at = (
            event.occurred_at + timedelta(days=self.validity_days) if self.validity_days else None
        )
        return available_at, expires_at


def proportional(points: int, part: Decimal, whole: Decimal) -> int:
    """``points * part / whole``, rounded down, in exact decimal arithmetic."""
    if whole <= 0:
        return 0
    return int((Decimal(points) * part / whole).to_integral_value(rounding="ROUND_FLOOR"))
