from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import ForeignKey, Index, Numeric, String, text
from sqlalchemy.orm import Mapped, mapped_column

from app.events.types import ACTIVITY_TYPES
from app.models.base import Base, BigPoints, utcnow
from app.models.customer import ID_LENGTH

# The activity index's predicate over the activity types (app.events.types):
# queries must repeat it verbatim, with literals, for SQLite to use the index.
ACTIVITY_WHERE = f"type IN ({', '.join(repr(kind) for kind in ACTIVITY_TYPES)})"


class Event(Base):
    """A behaviour event, stored once per client event id with the response it got.

    The primary key is the client's id: inserting it is how an event is claimed, so the
    database, not the application, decides which of several concurrent posts processes it.
    The commonly aggregated fields are copied out of ``data`` into typed columns so that
    metrics are plain SQL on both databases.
    """

    __tablename__ = "events"
    __table_args__ = (
        Index("ix_events_customer_id_occurred_at", "customer_id", "occurred_at"),
        # GET /v1/events across every customer, newest first, a keyset page at a time.
        Index("ix_events_occurred_at_id", "occurred_at", "id"),
        # Metrics: range scans by type that group by customer, and sum or list what was
        # spent, without visiting the table (whose rows carry the whole body and response:
        # reading them was most of the time of historical CLTV and the predictive fit).
        Index(
            "ix_events_type_occurred_at_customer_id_amount",
            "type",
            "occurred_at",
            "customer_id",
            "amount",
            "currency",
        ),
        # Each customer's activity (what makes a customer active: purchases and renewals)
        # in time order: retention, churn, repeat purchases and referrals read every
        # customer's activity in one ordered pass, grouping without a sort, and see each
        # customer's first activity on the way. Partial: most events are neither.
        Index(
            "ix_events_activity_customer_id_occurred_at",
            "customer_id",
            "occurred_at",
            "type",
            sqlite_where=text(ACTIVITY_WHERE),
            postgresql_where=text(ACTIVITY_WHERE),
        ),
        # The same per customer: a cohort's purchases without a sort by customer.
        Index(
            "ix_events_type_customer_id_occurred_at_amount",
            "type",
            "customer_id",
            "occurred_at",
            "amount",
        ),
        # Survey answers by window, with what NPS and CSAT read; only answers have a survey.
        Index(
            "ix_events_survey_occurred_at_answers",
            "survey",
            "occurred_at",
            "type",
            "customer_id",
            "score",
            "channel",
            "id",
            sqlite_where=text("survey IS NOT NULL"),
            postgresql_where=text("survey IS NOT NULL"),
        ),
    )

    id: Mapped[str] = mapped_column(String(ID_LENGTH), primary_key=True)
    type: Mapped[str] = mapped_column(String(32))
    customer_id: Mapped[str] = mapped_column(ForeignKey("customers.id"))
    occurred_at: Mapped[datetime]
    received_at: Mapped[datetime] = mapped_column(default=utcnow)
    channel: Mapped[str | None] = mapped_column(String(50))
    data: Mapped[dict[str, Any]]
    attributes: Mapped[dict[str, Any]]
    body_hash: Mapped[str] = mapped_column(String(64))
    ruleset_version: Mapped[int | None]
    response: Mapped[dict[str, Any]]
    # Typed copies of data fields, for metrics.
    order_id: Mapped[str | None] = mapped_column(String(ID_LENGTH))
    amount: Mapped[Decimal | None] = mapped_column(Numeric(18, 4))
    currency: Mapped[str | None] = mapped_column(String(3))
    referred_customer_id: Mapped[str | None] = mapped_column(String(ID_LENGTH))
    survey: Mapped[str | None] = mapped_column(String(8))
    score: Mapped[int | None]


class Order(Base):
    """One purchase per order id: what it earned and how much of it was refunded."""

    __tablename__ = "orders"
    __table_args__ = (
        # Historical CLTV nets the window's purchases of their refunds; few orders have any.
        Index(
            "ix_orders_refunded_purchase_event_id",
            "purchase_event_id",
            "customer_id",
            "refunded_amount",
            sqlite_where=text("refunded_amount > 0"),
            postgresql_where=text("refunded_amount > 0"),
        ),
    )

    id: Mapped[str] = mapped_column(String(ID_LENGTH), primary_key=True)
    customer_id: Mapped[str] = mapped_column(ForeignKey("customers.id"))
    purchase_event_id: Mapped[str] = mapped_column(ForeignKey("events.id"))
    amount: Mapped[Decimal] = mapped_column(Numeric(18, 4))
    currency: Mapped[str] = mapped_column(String(3))
    refunded_amount: Mapped[Decimal] = mapped_column(Numeric(18, 4), default=Decimal(0))
    points_earned: Mapped[int] = mapped_column(BigPoints, default=0)
    points_reversed: Mapped[int] = mapped_column(BigPoints, default=0)
    points_shortfall: Mapped[int] = mapped_column(BigPoints, default=0)


class Referral(Base):
    """A customer can be referred once; the first referral event for them wins."""

    __tablename__ = "referrals"

    referred_customer_id: Mapped[str] = mapped_column(String(ID_LENGTH), primary_key=True)
    referrer_id: Mapped[str] = mapped_column(ForeignKey("customers.id"), index=True)
    event_id: Mapped[str] = mapped_column(ForeignKey("events.id"))
    occurred_at: Mapped[datetime] = mapped_column(index=True)
