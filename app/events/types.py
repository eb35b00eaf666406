"""The one list of behaviour event types: the envelope, the rules and the metrics read it."""

from enum import StrEnum
from typing import Final


class EventType(StrEnum):
    purchase = "purchase"
    refund = "refund"
    referral = "referral"
    review = "review"
    renewal = "renewal"
    signup = "signup"
    subscription = "subscription"
    social_engagement = "social_engagement"
    upgrade = "upgrade"
    cancellation = "cancellation"
    feedback = "feedback"


EVENT_TYPES: Final[tuple[str, ...]] = tuple(t.value for t in EventType)

# A customer is active at an instant when they have one of these event types in the
# trailing activity window before it (metrics).
ACTIVITY_TYPES: Final[tuple[str, ...]] = (EventType.purchase.value, EventType.renewal.value)
