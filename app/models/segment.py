"""Saved segments and experiments: their definitions, and each customer's exposure."""

from datetime import datetime
from typing import Any

from sqlalchemy import ForeignKey, Index, String
from sqlalchemy.orm import Mapped, mapped_column

from app.models.base import Base, JSONType, utcnow
from app.models.customer import ID_LENGTH

SLUG_LENGTH = 50


class Segment(Base):
    """A condition over customer facts, in the rules' language; membership is evaluated
    when it is read (``app.segments.sql``), so it is never stale."""

    __tablename__ = "segments"

    id: Mapped[str] = mapped_column(String(SLUG_LENGTH), primary_key=True)
    name: Mapped[str] = mapped_column(String(100))
    description: Mapped[str] = mapped_column(String(2000), default="")
    condition: Mapped[dict[str, Any] | None]
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)


class Experiment(Base):
    """Variants with weights (the first is the control), an optional audience segment, the
    salt of the assignment hash, and the metrics it is judged on."""

    __tablename__ = "experiments"

    id: Mapped[str] = mapped_column(String(SLUG_LENGTH), primary_key=True)
    name: Mapped[str] = mapped_column(String(100))
    description: Mapped[str] = mapped_column(String(2000), default="")
    status: Mapped[str] = mapped_column(String(16), default="draft")
    variants: Mapped[list[dict[str, Any]]] = mapped_column(JSONType)
    segment_id: Mapped[str | None] = mapped_column(ForeignKey("segments.id"))
    salt: Mapped[str] = mapped_column(String(64))
    primary_metric: Mapped[str] = mapped_column(String(40))
    guardrails: Mapped[list[str]]
    point_value: Mapped[float]
    pre_period_days: Mapped[int]
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)
    started_at: Mapped[datetime | None]
    stopped_at: Mapped[datetime | None]


class ExperimentExposure(Base):
    """A customer's first event after the start: the variant they were assigned, once.

    ``would_have`` adds up, per other variant, what the experiment's rules scoped to it
    would have given the customer, event by event (``{variant: {"points": n, "effects":
    k}}``), so that a treatment's cost shows in the control too.
    """

    __tablename__ = "experiment_exposures"
    __table_args__ = (Index("ix_experiment_exposures_customer_id", "customer_id"),)

    experiment_id: Mapped[str] = mapped_column(ForeignKey("experiments.id"), primary_key=True)
    customer_id: Mapped[str] = mapped_column(String(ID_LENGTH), primary_key=True)
    variant: Mapped[str] = mapped_column(String(SLUG_LENGTH))
    exposed_at: Mapped[datetime]
    event_id: Mapped[str] = mapped_column(String(ID_LENGTH))
    would_have: Mapped[dict[str, Any]]
