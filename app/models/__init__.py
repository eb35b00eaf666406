"""Every ORM model, in one package so that domains never import each other in circles."""

from app.models.api_key import ApiKey
from app.models.base import Base
from app.models.challenge import Challenge, ChallengeProgress
from app.models.customer import Customer, CustomerBadge, CustomerPerk
from app.models.event import Event, Order, Referral
from app.models.feedback import FeedbackFollowUp
from app.models.gamification import Leaderboard, LeaderboardPeriod, LeaderboardScore
from app.models.ledger import EntryKind, IdempotencyKey, LedgerEntry, PointLot
from app.models.metric import CltvFit, CltvPrediction
from app.models.reward import Coupon, ReferralCode, Reward, RewardClaim, RewardCode, RewardVersion
from app.models.rule import (
    Rule,
    RuleBudget,
    RuleLimitCounter,
    RulesetHead,
    RulesetVersion,
    RuleVersion,
)
from app.models.segment import Experiment, ExperimentExposure, Segment
from app.models.streak import CustomerStreak, Streak
from app.models.webhook import (
    MessageStatus,
    WebhookAttempt,
    WebhookMessage,
    WebhookSubscription,
)

__all__ = [
    "ApiKey",
    "Base",
    "Challenge",
    "ChallengeProgress",
    "CltvFit",
    "CltvPrediction",
    "Coupon",
    "Customer",
    "CustomerBadge",
    "CustomerPerk",
    "CustomerStreak",
    "EntryKind",
    "Event",
    "Experiment",
    "ExperimentExposure",
    "FeedbackFollowUp",
    "IdempotencyKey",
    "Leaderboard",
    "LeaderboardPeriod",
    "LeaderboardScore",
    "LedgerEntry",
    "MessageStatus",
    "Order",
    "PointLot",
    "Referral",
    "ReferralCode",
    "Reward",
    "RewardClaim",
    "RewardCode",
    "RewardVersion",
    "Rule",
    "RuleBudget",
    "RuleLimitCounter",
    "RuleVersion",
    "RulesetHead",
    "RulesetVersion",
    "Segment",
    "Streak",
    "WebhookAttempt",
    "WebhookMessage",
    "WebhookSubscription",
]
