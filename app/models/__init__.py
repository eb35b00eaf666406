"""Every ORM model, in one package so that domains never import each other in circles."""

from app.models.api_key import ApiKey
from app.models.base import Base
from app.models.customer import Customer, CustomerBadge, CustomerPerk
from app.models.event import Event, Order, Referral
from app.models.feedback import FeedbackFollowUp
from app.models.ledger import EntryKind, IdempotencyKey, LedgerEntry, PointLot
from app.models.metric import CltvFit, CltvPrediction
from app.models.rule import (
    Rule,
    RuleBudget,
    RuleLimitCounter,
    RulesetHead,
    RulesetVersion,
    RuleVersion,
)
from app.models.webhook import (
    MessageStatus,
    WebhookAttempt,
    WebhookMessage,
    WebhookSubscription,
)

__all__ = [
    "ApiKey",
    "Base",
    "CltvFit",
    "CltvPrediction",
    "Customer",
    "CustomerBadge",
    "CustomerPerk",
    "EntryKind",
    "Event",
    "FeedbackFollowUp",
    "IdempotencyKey",
    "LedgerEntry",
    "MessageStatus",
    "Order",
    "PointLot",
    "Referral",
    "Rule",
    "RuleBudget",
    "RuleLimitCounter",
    "RuleVersion",
    "RulesetHead",
    "RulesetVersion",
    "WebhookAttempt",
    "WebhookMessage",
    "WebhookSubscription",
]
