"""Leaderboards: definitions, live scores per period and customer, and period closings."""

from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import ForeignKey, Index, Numeric, String, false
from sqlalchemy.orm import Mapped, mapped_column

from app.models.base import Base, JSONType, utcnow

LEADERBOARD_ID_LENGTH = 64
PERIOD_KEY_LENGTH = 16
# Points and counts are whole; purchase amounts carry the currency's decimals.
Score = Numeric(24, 4)


class Leaderboard(Base):
    """What a leaderboard ranks (``score``), over which ``period``, and who may appear.

    Deleted boards keep their rows (``deleted_at``): their ids are never reused.
    """

    __tablename__ = "leaderboards"

    id: Mapped[str] = mapped_column(String(LEADERBOARD_ID_LENGTH), primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    description: Mapped[str | None] = mapped_column(String(2000))
    score: Mapped[str] = mapped_column(String(32))
    event_types: Mapped[list[str]]
    period: Mapped[str] = mapped_column(String(16))
    rolling_days: Mapped[int | None]
    tier: Mapped[str | None] = mapped_column(String(50))
    rewards: Mapped[list[Any]] = mapped_column(JSONType)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)
    deleted_at: Mapped[datetime | None]


class LeaderboardScore(Base):
    """One customer's score on one board for one period, kept by the ingest pipeline.

    ``reached_at`` is the latest occurred_at of the events that make up the score, the
    moment the customer reached it: ties are listed in that order. ``hidden`` mirrors the
    customer's ``leaderboard_opt_out`` (and erasure), so that the standings read one index.
    """

    __tablename__ = "leaderboard_scores"
    leaderboard_id: Mapped[str] = mapped_column(ForeignKey("leaderboards.id"), primary_key=True)
    period_key: Mapped[str] = mapped_column(String(PERIOD_KEY_LENGTH), primary_key=True)
    customer_id: Mapped[str] = mapped_column(
        ForeignKey("customers.id"), primary_key=True, index=True
    )
    score: Mapped[Decimal] = mapped_column(Score)
    reached_at: Mapped[datetime]
    hidden: Mapped[bool] = mapped_column(default=False, server_default=false())


# The standings in their order (score descending, then who reached it first): the top of a
# period and a customer's neighbours are range scans of this index, either way, and a rank
# is a count over a prefix of it.
Index(
    "ix_leaderboard_scores_standing",
    LeaderboardScore.leaderboard_id,
    LeaderboardScore.period_key,
    LeaderboardScore.hidden,
    LeaderboardScore.score.desc(),
    LeaderboardScore.reached_at,
    LeaderboardScore.customer_id,
)


class LeaderboardPeriod(Base):
    """A calendar period a board has scores in; closed once, by ``reinforce leaderboards
    close``, which records the final standings it rewarded."""

    __tablename__ = "leaderboard_periods"

    leaderboard_id: Mapped[str] = mapped_column(ForeignKey("leaderboards.id"), primary_key=True)
    period_key: Mapped[str] = mapped_column(String(PERIOD_KEY_LENGTH), primary_key=True)
    starts_at: Mapped[datetime]
    ends_at: Mapped[datetime] = mapped_column(index=True)
    closed_at: Mapped[datetime | None]
    results: Mapped[dict[str, Any] | None]
