"""Wire types of leaderboards and their standings."""

from datetime import datetime
from decimal import Decimal
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, model_validator

from app.events.types import EVENT_TYPES, EventType
from app.gamification.periods import PeriodKind
from app.models.gamification import LEADERBOARD_ID_LENGTH
from app.rules.schemas import Slug, _custom, _raise

LeaderboardId = Annotated[
    str,
    StringConstraints(
        min_length=1, max_length=LEADERBOARD_ID_LENGTH, pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]*$"
    ),
]
ScoreName = Literal["points_earned", "event_count", "purchase_amount"]
CalendarPeriod = Literal["week", "month", "year", "all_time"]
MAX_ROLLING_DAYS = 366
MAX_REWARDS = 10
MAX_REWARDED_RANK = 1000
MAX_NEIGHBOURS = 10
# Standings pages: the top 100 is one page.
MAX_STANDINGS_PAGE = 200


class RollingPeriod(BaseModel):
    """The last N days (UTC days, today included), summed when read."""

    model_config = ConfigDict(extra="forbid")

    rolling_days: int = Field(ge=1, le=MAX_ROLLING_DAYS)


class LeaderboardReward(BaseModel):
    """A badge for everyone ranked `top` or better when a period closes (ties share a
    rank, so a tie at the last rewarded rank rewards every tied customer)."""

    model_config = ConfigDict(extra="forbid")

    top: int = Field(ge=1, le=MAX_REWARDED_RANK, description="The last rank rewarded.")
    badge: Slug = Field(description="The badge awarded, e.g. 'champion-of-the-month'.")


def _check_board(model: Any) -> None:
    errors = []
    if model.score == "event_count" and not model.event_types:
        errors.append(
            _custom(
                ("event_types",),
                "event_types_required",
                "an event_count leaderboard counts the event types listed here; list one",
                model.event_types,
            )
        )
    if model.score == "purchase_amount" and set(model.event_types) - {EventType.purchase}:
        errors.append(
            _custom(
                ("event_types",),
                "purchase_only",
                "a purchase_amount leaderboard sums purchases only",
                [t.value for t in model.event_types],
            )
        )
    if model.rewards and not closes_periods(model.period):
        errors.append(
            _custom(
                ("rewards",),
                "period_never_ends",
                "rewards go to a period's final standings; all_time and rolling periods never end",
                None,
            )
        )
    _raise(type(model).__name__, errors)


def closes_periods(period: Any) -> bool:
    return isinstance(period, str) and period in ("week", "month", "year")


class LeaderboardIn(BaseModel):
    """A leaderboard. It counts the events processed from the moment it is created, each
    in the period it happened in (a back-dated event in its own, past period)."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {
                    "id": "top-spenders",
                    "name": "Top spenders of the month",
                    "score": "purchase_amount",
                    "period": "month",
                    "rewards": [{"top": 3, "badge": "top-spender"}],
                }
            ]
        },
    )

    id: LeaderboardId | None = Field(
        default=None, description="Stable id; generated when absent. Never reused."
    )
    name: str = Field(min_length=1, max_length=200)
    description: str | None = Field(default=None, max_length=2000)
    score: ScoreName = Field(
        description="`points_earned`: points earned net of refund reversals; `event_count`: "
        "events of `event_types`; `purchase_amount`: the sum of purchase amounts."
    )
    event_types: list[EventType] = Field(
        default_factory=list,
        max_length=len(EVENT_TYPES),
        description="Only these event types count (all, when empty); required for "
        "`event_count`. One of: " + ", ".join(EVENT_TYPES) + ".",
    )
    period: CalendarPeriod | RollingPeriod = Field(
        description="`week` (ISO, from Monday), `month`, `year` (UTC calendar periods), "
        '`all_time`, or `{"rolling_days": N}` (the last N UTC days).'
    )
    tier: Annotated[str, StringConstraints(min_length=1, max_length=50)] | None = Field(
        default=None,
        description="Only events of customers holding this tier (after the event) count.",
    )
    rewards: list[LeaderboardReward] = Field(
        default_factory=list,
        max_length=MAX_REWARDS,
        description="Badges for the final standings of each week, month or year, awarded "
        "once by `reinforce leaderboards close`.",
    )

    @model_validator(mode="after")
    def _consistent(self) -> "LeaderboardIn":
        _check_board(self)
        return self


class LeaderboardPatch(BaseModel):
    """What may change on a leaderboard: its name, description and rewards. What it ranks
    and over which period are fixed, since the stored scores were counted that way."""

    model_config = ConfigDict(extra="forbid")

    name: str | None = Field(default=None, min_length=1, max_length=200)
    description: str | None = Field(default=None, max_length=2000)
    rewards: list[LeaderboardReward] | None = Field(default=None, max_length=MAX_REWARDS)


class LeaderboardOut(BaseModel):
    id: str
    name: str
    description: str | None
    score: ScoreName
    event_types: list[EventType]
    period: CalendarPeriod | RollingPeriod
    tier: str | None
    rewards: list[LeaderboardReward]
    created_at: datetime
    updated_at: datetime


class LeaderboardList(BaseModel):
    items: list[LeaderboardOut]


class StandingEntry(BaseModel):
    rank: int = Field(description="Standard competition ranking: ties share a rank (1, 2, 2, 4).")
    customer_id: str
    display_name: str | None
    score: Decimal
    reached_at: datetime = Field(description="When the customer reached this score.")


class StandingsOut(BaseModel):
    """One page of a period's standings: by score, ties in the order the score was reached."""

    leaderboard_id: str
    period: str = Field(description="The period's key, e.g. `2026-11`, `2026-W48`, `all_time`.")
    starts_at: datetime
    ends_at: datetime
    entries: list[StandingEntry]
    next_cursor: str | None = None


class CustomerStandingOut(BaseModel):
    """A customer's place and the entries just above and below. `entry` is null when the
    customer has no score in the period or is not listed (opted out)."""

    leaderboard_id: str
    period: str
    starts_at: datetime
    ends_at: datetime
    customer_id: str
    entry: StandingEntry | None
    above: list[StandingEntry]
    below: list[StandingEntry]


class ShopperEntry(BaseModel):
    """An entry as a shopper sees it: no customer ids."""

    rank: int
    display_name: str | None
    score: Decimal
    me: bool = Field(description="True for the shopper's own entry.")


class MyStandingOut(BaseModel):
    """The shopper's own rank and score with their neighbours, by display name only."""

    leaderboard_id: str
    name: str
    period: str
    starts_at: datetime
    ends_at: datetime
    rank: int | None = Field(description="Null when not ranked (no score yet, or opted out).")
    score: Decimal | None
    entries: list[ShopperEntry] = Field(description="Above, the shopper, below, in order.")


def period_out(kind: str, rolling_days: int | None) -> CalendarPeriod | RollingPeriod:
    if PeriodKind(kind) is PeriodKind.rolling_days:
        assert rolling_days is not None
        return RollingPeriod(rolling_days=rolling_days)
    return kind  # type: ignore[return-value]
