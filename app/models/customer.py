from datetime import date, datetime
from decimal import Decimal

from sqlalchemy import ForeignKey, Index, Numeric, String, UniqueConstraint, false
from sqlalchemy.orm import Mapped, mapped_column

from app.models.base import Base, BigPoints, utcnow

ID_LENGTH = 128
PROFILE_TEXT_LENGTH = 200


class Customer(Base):
    """A shopper, created on their first event. Holds the aggregates rules read.

    The ``points_*`` counters are maintained in the same transaction as the ledger entries
    they summarise; available and pending points depend on the clock and are computed
    from the lots instead.
    """

    __tablename__ = "customers"
    # The customer list, newest first, one keyset page at a time.
    __table_args__ = (Index("ix_customers_created_at_id", "created_at", "id"),)

    id: Mapped[str] = mapped_column(String(ID_LENGTH), primary_key=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    first_seen_at: Mapped[datetime]
    tier: Mapped[str | None] = mapped_column(String(50))
    tier_changed_at: Mapped[datetime | None]
    purchase_count: Mapped[int] = mapped_column(default=0)
    lifetime_spend: Mapped[Decimal] = mapped_column(Numeric(18, 4), default=Decimal(0))
    # Indexed for acquisition cohorts.
    first_purchase_at: Mapped[datetime | None] = mapped_column(index=True)
    last_purchase_at: Mapped[datetime | None]
    referral_count: Mapped[int] = mapped_column(default=0)
    points_earned: Mapped[int] = mapped_column(BigPoints, default=0)
    points_redeemed: Mapped[int] = mapped_column(BigPoints, default=0)
    points_expired: Mapped[int] = mapped_column(BigPoints, default=0)
    points_reversed: Mapped[int] = mapped_column(BigPoints, default=0)
    points_adjusted: Mapped[int] = mapped_column(BigPoints, default=0)
    # The profile the shop owns (PATCH /v1/customers/{id}); erasure clears it.
    display_name: Mapped[str | None] = mapped_column(String(PROFILE_TEXT_LENGTH))
    reference: Mapped[str | None] = mapped_column(String(PROFILE_TEXT_LENGTH))
    marketing_opt_in: Mapped[bool] = mapped_column(default=False, server_default=false())
    leaderboard_opt_out: Mapped[bool] = mapped_column(default=False, server_default=false())
    birthday: Mapped[date | None]
    profile_updated_at: Mapped[datetime | None]
    # Set on the pseudonymous row an erasure leaves behind (its id is the pseudonym).
    erased_at: Mapped[datetime | None]


class CustomerBadge(Base):
    __tablename__ = "customer_badges"
    __table_args__ = (UniqueConstraint("customer_id", "badge"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    customer_id: Mapped[str] = mapped_column(ForeignKey("customers.id"))
    badge: Mapped[str] = mapped_column(String(50))
    awarded_at: Mapped[datetime] = mapped_column(default=utcnow)
    event_id: Mapped[str | None] = mapped_column(String(ID_LENGTH))
    rule_id: Mapped[str | None] = mapped_column(String(64))


class CustomerPerk(Base):
    """A named privilege such as early access; granting it again extends it."""

    __tablename__ = "customer_perks"
    __table_args__ = (UniqueConstraint("customer_id", "perk"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    customer_id: Mapped[str] = mapped_column(ForeignKey("customers.id"))
    perk: Mapped[str] = mapped_column(String(50))
    granted_at: Mapped[datetime] = mapped_column(default=utcnow)
    expires_at: Mapped[datetime | None]
    event_id: Mapped[str | None] = mapped_column(String(ID_LENGTH))
    rule_id: Mapped[str | None] = mapped_column(String(64))
