"""Cached predictive CLTV fits, shared by every worker."""

from datetime import datetime
from typing import Any

from sqlalchemy import ForeignKey, String
from sqlalchemy.orm import Mapped, mapped_column

from app.models.base import Base, utcnow
from app.models.customer import ID_LENGTH


class CltvFit(Base):
    """One BG/NBD + Gamma-Gamma fit per (window, time unit); a refit replaces it in place.

    ``key`` names the window and time unit, so concurrent fits of the same window on
    several workers upsert one row instead of racing to add two.
    """

    __tablename__ = "cltv_fits"

    id: Mapped[int] = mapped_column(primary_key=True)
    key: Mapped[str] = mapped_column(String(120), unique=True)
    window_from: Mapped[datetime | None]
    window_to: Mapped[datetime]
    time_unit: Mapped[str] = mapped_column(String(8))
    fitted_at: Mapped[datetime] = mapped_column(default=utcnow, index=True)
    horizon: Mapped[float]
    discount_rate: Mapped[float]
    params: Mapped[dict[str, Any]]
    summary: Mapped[dict[str, Any]]


class CltvPrediction(Base):
    """A customer's predictions from one fit, for ``GET /v1/customers/{id}``."""

    __tablename__ = "cltv_predictions"

    fit_id: Mapped[int] = mapped_column(
        ForeignKey("cltv_fits.id", ondelete="CASCADE"), primary_key=True
    )
    customer_id: Mapped[str] = mapped_column(String(ID_LENGTH), primary_key=True)
    p_alive: Mapped[float]
    expected_transactions: Mapped[float]
    predicted_clv: Mapped[float | None]
