"""The rewards catalog, its claims and coupons, imported code pools, and referral codes."""

from datetime import datetime
from typing import Any

from sqlalchemy import ForeignKey, Index, String, UniqueConstraint, text
from sqlalchemy.orm import Mapped, mapped_column

from app.models.base import Base, BigPoints, utcnow
from app.models.customer import ID_LENGTH

REWARD_ID_LENGTH = 64
CODE_LENGTH = 64


class Reward(Base):
    """A reward's identity and its live figures; its documents live in ``reward_versions``.

    ``stock`` (units left, null for unlimited) changes with every claim: it is taken by an
    atomic ``UPDATE ... WHERE stock > 0``, or under the row's lock in the ingest pipeline.
    """

    __tablename__ = "rewards"

    id: Mapped[str] = mapped_column(String(REWARD_ID_LENGTH), primary_key=True)
    current_version: Mapped[int]
    document: Mapped[dict[str, Any]]
    stock: Mapped[int | None] = mapped_column(BigPoints)
    # Set once codes were imported: claims then take the pool's codes, never make their own.
    pooled: Mapped[bool] = mapped_column(default=False)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)
    deleted_at: Mapped[datetime | None]


class RewardVersion(Base):
    __tablename__ = "reward_versions"

    reward_id: Mapped[str] = mapped_column(ForeignKey("rewards.id"), primary_key=True)
    version: Mapped[int] = mapped_column(primary_key=True)
    document: Mapped[dict[str, Any]]
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class RewardClaim(Base):
    """A reward bought with points (``points`` > 0) or handed out by a rule (0 points)."""

    __tablename__ = "reward_claims"
    __table_args__ = (
        Index("ix_reward_claims_customer_reward_period", "customer_id", "reward_id", "period_key"),
        Index("ix_reward_claims_created_at", "created_at"),
    )

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    customer_id: Mapped[str] = mapped_column(ForeignKey("customers.id"))
    reward_id: Mapped[str] = mapped_column(ForeignKey("rewards.id"))
    reward_version: Mapped[int]
    points: Mapped[int] = mapped_column(BigPoints)
    # The reward's per-customer limit period the claim counts in ('lifetime', '2026-12', ...).
    period_key: Mapped[str] = mapped_column(String(16))
    entry_id: Mapped[int | None] = mapped_column(ForeignKey("ledger_entries.id"))
    event_id: Mapped[str | None] = mapped_column(String(ID_LENGTH))
    rule_id: Mapped[str | None] = mapped_column(String(64))
    status: Mapped[str] = mapped_column(String(16))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    voided_at: Mapped[datetime | None]


class Coupon(Base):
    """The code a claim issued. ``status`` is stored as active, used or void; an active
    coupon past ``expires_at`` reads as expired."""

    __tablename__ = "coupons"
    __table_args__ = (
        Index("ix_coupons_customer_id_issued_at", "customer_id", "issued_at"),
        Index(
            "ix_coupons_expiring",
            "expires_at",
            sqlite_where=text("status = 'active' AND expired_notified_at IS NULL"),
            postgresql_where=text("status = 'active' AND expired_notified_at IS NULL"),
        ),
    )

    code: Mapped[str] = mapped_column(String(CODE_LENGTH), primary_key=True)
    claim_id: Mapped[str] = mapped_column(ForeignKey("reward_claims.id"), unique=True)
    reward_id: Mapped[str] = mapped_column(ForeignKey("rewards.id"), index=True)
    customer_id: Mapped[str] = mapped_column(ForeignKey("customers.id"))
    status: Mapped[str] = mapped_column(String(16))
    issued_at: Mapped[datetime] = mapped_column(default=utcnow)
    expires_at: Mapped[datetime]
    order_id: Mapped[str | None] = mapped_column(String(ID_LENGTH))
    used_at: Mapped[datetime | None]
    # When coupon.expired was emitted: once per coupon.
    expired_notified_at: Mapped[datetime | None]


class RewardCode(Base):
    """A code imported for a reward; ``taken_at`` is set when a claim takes it."""

    __tablename__ = "reward_codes"
    __table_args__ = (
        Index(
            "ix_reward_codes_free",
            "reward_id",
            "code",
            sqlite_where=text("taken_at IS NULL"),
            postgresql_where=text("taken_at IS NULL"),
        ),
    )

    code: Mapped[str] = mapped_column(String(CODE_LENGTH), primary_key=True)
    reward_id: Mapped[str] = mapped_column(ForeignKey("rewards.id"))
    imported_at: Mapped[datetime] = mapped_column(default=utcnow)
    taken_at: Mapped[datetime | None]


class ReferralCode(Base):
    """A customer's shareable referral code, made on first read and never changed."""

    __tablename__ = "referral_codes"
    __table_args__ = (UniqueConstraint("customer_id"),)

    code: Mapped[str] = mapped_column(String(16), primary_key=True)
    customer_id: Mapped[str] = mapped_column(ForeignKey("customers.id"))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
