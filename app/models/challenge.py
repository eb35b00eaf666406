"""Challenges (missions) and each customer's progress in them."""

from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import ForeignKey, Numeric, String
from sqlalchemy.orm import Mapped, mapped_column

from app.models.base import Base, JSONType, utcnow

CHALLENGE_ID_LENGTH = 64


class Challenge(Base):
    """Reach ``goal`` with events of ``event_types`` that meet ``condition`` within ``window``;
    then ``actions`` fire, once per completion. Deleted ones keep their row and id."""

    __tablename__ = "challenges"

    id: Mapped[str] = mapped_column(String(CHALLENGE_ID_LENGTH), primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    description: Mapped[str | None] = mapped_column(String(2000))
    event_types: Mapped[list[str]]
    condition: Mapped[dict[str, Any] | None]
    goal: Mapped[dict[str, Any]]
    window: Mapped[dict[str, Any]]
    actions: Mapped[list[Any]] = mapped_column(JSONType)
    repeat: Mapped[str] = mapped_column(String(16))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)
    deleted_at: Mapped[datetime | None]


class ChallengeProgress(Base):
    """A customer's current window of a challenge, and how often they completed it.

    Written by the ingest pipeline under the customer's lock (PostgreSQL) or the write
    transaction (SQLite), so that a completion is counted, and rewarded, exactly once."""

    __tablename__ = "challenge_progress"

    challenge_id: Mapped[str] = mapped_column(ForeignKey("challenges.id"), primary_key=True)
    customer_id: Mapped[str] = mapped_column(
        ForeignKey("customers.id"), primary_key=True, index=True
    )
    window_start: Mapped[datetime]
    deadline: Mapped[datetime]
    progress: Mapped[Decimal] = mapped_column(Numeric(24, 4))
    window_completed: Mapped[bool]
    completions: Mapped[int]
    completed_at: Mapped[datetime | None]
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)
