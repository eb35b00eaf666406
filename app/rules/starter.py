"""The starter programme: one rule per behaviour the service exists to reward.

``reinforce demo`` loads it (with a streak, a leaderboard and a challenge), the benchmark
can load it, and README.md shows it as the documented example. Rule ids are stable so that
loading it again changes nothing.
"""

from typing import Any, Final

from app.gamification.challenge_schemas import ChallengeIn
from app.gamification.schemas import LeaderboardIn
from app.rules.schemas import RuleDocument, TierLadder
from app.rules.streak_schemas import StreakIn

STARTER_RULES: Final[tuple[tuple[str, dict[str, Any]], ...]] = (
    (
        "points-per-purchase",
        {
            "name": "1 point per currency unit",
            "description": "Every purchase earns a point per whole currency unit.",
            "types": ["purchase"],
            "actions": [{"type": "award_points", "per_unit": 1}],
            "priority": 100,
        },
    ),
    (
        "first-purchase-bonus",
        {
            "name": "First purchase bonus",
            "description": "50 points, a badge and a thank-you note, once per customer.",
            "types": ["purchase"],
            "conditions": {"fact": "customer.purchase_count", "op": "eq", "value": 0},
            "actions": [
                {"type": "award_points", "points": 50},
                {"type": "award_badge", "badge": "first-purchase"},
                {"type": "notify", "notification": "thank_you"},
            ],
            "limits": {"per_customer": {"count": 1, "period": "lifetime"}},
            "priority": 10,
        },
    ),
    (
        "surprise-gift",
        {
            "name": "Surprise gift on the tenth order",
            "types": ["purchase"],
            "conditions": {"fact": "customer.purchase_count", "op": "eq", "value": 9},
            "actions": [
                {"type": "award_points", "points": 100},
                {"type": "notify", "notification": "surprise_gift"},
            ],
            "limits": {"per_customer": {"count": 1, "period": "lifetime"}},
            "priority": 20,
        },
    ),
    (
        "early-access",
        {
            "name": "Early access for loyal customers",
            "description": "Five orders or more, or a gold tier: 90 days of early access.",
            "types": ["purchase"],
            "conditions": {
                "any": [
                    {"fact": "customer.purchase_count", "op": "gte", "value": 4},
                    {"fact": "customer.tier", "op": "eq", "value": "gold"},
                ]
            },
            "actions": [{"type": "grant_perk", "perk": "early_access", "expires_in_days": 90}],
            "limits": {"per_customer": {"count": 1, "period": "month"}},
            "priority": 30,
        },
    ),
    (
        "gold-multiplier",
        {
            "name": "Gold members earn 1.5x",
            "types": ["purchase", "review", "renewal"],
            "conditions": {"fact": "customer.tier", "op": "eq", "value": "gold"},
            "actions": [{"type": "multiply_points", "factor": 1.5}],
            "priority": 200,
        },
    ),
    (
        "referral-referrer",
        {
            "name": "Referral: the referrer",
            "description": "200 points and the ambassador badge for each referred customer.",
            "types": ["referral"],
            "actions": [
                {"type": "award_points", "points": 200},
                {"type": "award_badge", "badge": "ambassador"},
            ],
        },
    ),
    (
        "referral-welcome",
        {
            "name": "Referral: the referred customer",
            "description": "The new customer's signup or first purchase carries the "
            "referrer's code in data.referral_code (or a signup names them in "
            "data.referred_by); they get 100 welcome points, once.",
            "types": ["signup", "purchase"],
            "conditions": {
                "any": [
                    {"fact": "event.referred", "op": "eq", "value": True},
                    {"fact": "data.referred_by", "op": "exists", "value": True},
                ]
            },
            "actions": [{"type": "award_points", "points": 100}],
            "limits": {"per_customer": {"count": 1, "period": "lifetime"}},
        },
    ),
    (
        "review-points",
        {
            "name": "Review points",
            "description": "20 points per review, at most 3 a month.",
            "types": ["review"],
            "actions": [
                {"type": "award_points", "points": 20},
                {"type": "award_badge", "badge": "reviewer"},
            ],
            "limits": {"per_customer": {"count": 3, "period": "month"}},
        },
    ),
    (
        "renewal-bonus",
        {
            "name": "Renewal bonus",
            "types": ["renewal"],
            "actions": [
                {"type": "award_points", "points": 100},
                {"type": "notify", "notification": "thank_you"},
            ],
        },
    ),
    (
        "mailing-list",
        {
            "name": "Mailing-list opt-in",
            "types": ["subscription"],
            "actions": [{"type": "award_points", "points": 25}],
            "limits": {"per_customer": {"count": 1, "period": "lifetime"}},
        },
    ),
    (
        "social-engagement",
        {
            "name": "Social engagement",
            "description": "10 points per share, one a day, from a 50,000 point budget.",
            "types": ["social_engagement"],
            "actions": [{"type": "award_points", "points": 10}],
            "limits": {"per_customer": {"count": 1, "period": "day"}, "budget_points": 50_000},
        },
    ),
    (
        "survey-answer",
        {
            "name": "Survey answer",
            "types": ["feedback"],
            "actions": [{"type": "award_points", "points": 15}],
            "limits": {"per_customer": {"count": 1, "period": "month"}},
        },
    ),
    (
        "detractor-follow-up",
        {
            "name": "Detractor follow-up",
            "description": "NPS 0-6: ask customer care to get in touch.",
            "types": ["feedback"],
            "conditions": {
                "all": [
                    {"fact": "data.survey", "op": "eq", "value": "nps"},
                    {"fact": "data.score", "op": "between", "value": [0, 6]},
                ]
            },
            "actions": [{"type": "notify", "notification": "detractor_follow_up"}],
        },
    ),
    (
        "weekly-regular",
        {
            "name": "Weekly regular",
            "description": "A purchase every week for 4 weeks in a row earns the regular badge "
            "(the weekly-purchase streak).",
            "types": ["purchase"],
            "conditions": {"fact": "event.streaks.weekly-purchase", "op": "gte", "value": 4},
            "actions": [{"type": "award_badge", "badge": "regular"}],
            "priority": 40,
        },
    ),
    (
        "upgrade-bonus",
        {
            "name": "Upgrade bonus",
            "types": ["upgrade"],
            "actions": [
                {"type": "award_points", "points": 150},
                {"type": "award_badge", "badge": "upgraded"},
            ],
        },
    ),
)

# Streaks the starter rules read (PUT /v1/rules/streaks/{id}), stored before the rules.
STARTER_STREAKS: Final[tuple[tuple[str, dict[str, Any]], ...]] = (
    ("weekly-purchase", {"event_types": ["purchase"], "period": "week", "grace": 0}),
)

# Game mechanics the demo shows beside the rules: a monthly leaderboard of spend whose top
# three get a badge when the month closes, and a repeatable review challenge.
STARTER_LEADERBOARDS: Final[tuple[dict[str, Any], ...]] = (
    {
        "id": "top-spenders",
        "name": "Top spenders of the month",
        "score": "purchase_amount",
        "period": "month",
        "rewards": [{"top": 3, "badge": "top-spender"}],
    },
)
STARTER_CHALLENGES: Final[tuple[dict[str, Any], ...]] = (
    {
        "id": "three-reviews",
        "name": "Three reviews in 30 days",
        "event_types": ["review"],
        "goal": {"count": 3},
        "window": {"rolling_days": 30},
        "actions": [
            {"type": "award_points", "points": 60},
            {"type": "award_badge", "badge": "critic"},
        ],
        "repeat": "every_window",
    },
)

STARTER_TIERS: Final[dict[str, Any]] = {
    "tiers": [
        {"tier": "silver", "min_lifetime_points": 500},
        {"tier": "gold", "min_lifetime_points": 2000},
    ]
}


def starter_rules() -> list[tuple[str, RuleDocument]]:
    return [(rule_id, RuleDocument.model_validate(doc)) for rule_id, doc in STARTER_RULES]


def starter_tiers() -> TierLadder:
    return TierLadder.model_validate(STARTER_TIERS)


def starter_streaks() -> list[tuple[str, StreakIn]]:
    return [(streak_id, StreakIn.model_validate(doc)) for streak_id, doc in STARTER_STREAKS]


def starter_leaderboards() -> list[LeaderboardIn]:
    return [LeaderboardIn.model_validate(doc) for doc in STARTER_LEADERBOARDS]


def starter_challenges() -> list[ChallengeIn]:
    return [ChallengeIn.model_validate(doc) for doc in STARTER_CHALLENGES]
