"""Streak definitions and each customer's active periods for each streak."""

from datetime import datetime

from sqlalchemy import ForeignKey, String
from sqlalchemy.orm import Mapped, mapped_column

from app.models.base import Base, JSONType, utcnow

STREAK_ID_LENGTH = 50


class Streak(Base):
    """Consecutive periods (``day``, ``week``, ``month``) with an event of ``event_types``;
    up to ``grace`` missed periods in a row do not break it."""

    __tablename__ = "streaks"

    id: Mapped[str] = mapped_column(String(STREAK_ID_LENGTH), primary_key=True)
    event_types: Mapped[list[str]]
    period: Mapped[str] = mapped_column(String(8))
    grace: Mapped[int]
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)


class CustomerStreak(Base):
    """The periods in which the customer had a qualifying event, as ``[first, last]`` runs
    of consecutive period numbers (``app.rules.streaks``). Current and best streaks are
    derived from them, so that a back-dated event fills its own period and a change of
    ``grace`` applies to the whole history."""

    __tablename__ = "customer_streaks"

    streak_id: Mapped[str] = mapped_column(ForeignKey("streaks.id"), primary_key=True)
    customer_id: Mapped[str] = mapped_column(
        ForeignKey("customers.id"), primary_key=True, index=True
    )
    periods: Mapped[list[list[int]]] = mapped_column(JSONType)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)
