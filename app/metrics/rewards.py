"""What the catalog costs and what is owed: points redeemed by reward, the coupons of a
window and how many were used, and the outstanding points liability.

Definitions:

- **points redeemed by reward**: the points of the window's claims (by when they were
  made), void claims left out;
- **coupons**: those issued in the window, and of them how many are now used, expired
  unused and void; the **redemption rate** is used / issued (null without coupons);
- **liability**, as of now: the points customers hold, available and pending (net of any
  refund debt), their value at ``REINFORCE_POINT_VALUE``, and what of them expires in the
  next 30 and 90 days.
"""

from datetime import datetime, timedelta
from decimal import Decimal
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import ColumnElement, and_, case, func, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from app.metrics.periods import Window
from app.metrics.queries.common import CustomerFilter, restrict
from app.models import Coupon, PointLot, Reward, RewardClaim

EXPIRY_HORIZONS = (30, 90)


class RewardRedeemed(BaseModel):
    reward_id: str
    name: str = Field(description="The reward's current name.")
    claims: int
    points: int


class CouponCounts(BaseModel):
    issued: int
    used: int
    expired: int = Field(description="Past their expiry, unused.")
    void: int
    redemption_rate: float | None = Field(description="used / issued; null without coupons.")


class RewardsMetricOut(BaseModel):
    model_config = ConfigDict(populate_by_name=True)

    metric: Literal["rewards"] = "rewards"
    from_: datetime = Field(alias="from")
    to: datetime
    points_redeemed: int = Field(description="Points the window's claims spent.")
    by_reward: list[RewardRedeemed] = Field(description="Most points first.")
    coupons: CouponCounts = Field(description="The coupons issued in the window, as they are now.")


class Expiring(BaseModel):
    days: int
    points: int = Field(description="Points whose lots expire within `days` from now.")
    value: Decimal


class LiabilityOut(BaseModel):
    metric: Literal["liability"] = "liability"
    at: datetime = Field(description="As of this instant (now).")
    available: int
    pending: int
    points: int = Field(description="available + pending: the points owed.")
    point_value: Decimal = Field(description="`REINFORCE_POINT_VALUE`, per point.")
    currency: str
    value: Decimal = Field(description="points x point_value.")
    available_value: Decimal
    pending_value: Decimal
    expiring: list[Expiring] = Field(description="In the next 30 and 90 days.")


async def rewards_metric(
    session: AsyncSession, window: Window, now: datetime, customers: CustomerFilter | None = None
) -> RewardsMetricOut:
    """``customers``: only these customers' claims and coupons (a segment's)."""
    in_window = and_(
        RewardClaim.created_at >= window.start,
        RewardClaim.created_at < window.end,
        RewardClaim.status != "void",
        *restrict(customers, RewardClaim.customer_id),
    )
    rows = (
        await session.execute(
            select(
                RewardClaim.reward_id,
                func.count(),
                func.coalesce(func.sum(RewardClaim.points), 0),
            )
            .where(in_window, RewardClaim.points > 0)
            .group_by(RewardClaim.reward_id)
        )
    ).all()
    names: dict[str, str] = {}
    if rows:
        found = await session.execute(
            select(Reward.id, Reward.document).where(Reward.id.in_([r[0] for r in rows]))
        )
        names = {row.id: str(row.document.get("name", "")) for row in found}
    by_reward = sorted(
        (
            RewardRedeemed(reward_id=r[0], name=names.get(r[0], ""), claims=r[1], points=int(r[2]))
            for r in rows
        ),
        key=lambda r: (-r.points, r.reward_id),
    )
    counts = await _coupon_counts(session, window, now, customers)
    return RewardsMetricOut.model_validate(
        {
            "from": window.start,
            "to": window.end,
            "points_redeemed": sum(r.points for r in by_reward),
            "by_reward": by_reward,
            "coupons": counts,
        }
    )


async def _coupon_counts(
    session: AsyncSession, window: Window, now: datetime, customers: CustomerFilter | None
) -> CouponCounts:
    def count(when: ColumnElement[bool]) -> ColumnElement[int]:
        return func.coalesce(func.sum(case((when, 1), else_=0)), 0)

    expired = and_(Coupon.status == "active", Coupon.expires_at <= now)
    row = (
        await session.execute(
            select(
                func.count(),
                count(Coupon.status == "used"),
                count(expired),
                count(Coupon.status == "void"),
            ).where(
                Coupon.issued_at >= window.start,
                Coupon.issued_at < window.end,
                *restrict(customers, Coupon.customer_id),
            )
        )
    ).one()
    issued, used = int(row[0]), int(row[1])
    return CouponCounts(
        issued=issued,
        used=used,
        expired=int(row[2]),
        void=int(row[3]),
        redemption_rate=used / issued if issued else None,
    )


async def liability(
    session: AsyncSession,
    now: datetime,
    point_value: Decimal,
    currency: str,
    customers: CustomerFilter | None = None,
) -> LiabilityOut:
    alive = and_(
        PointLot.remaining != 0, or_(PointLot.expires_at.is_(None), PointLot.expires_at > now)
    )

    def total(when: ColumnElement[bool]) -> ColumnElement[int]:
        return func.coalesce(func.sum(case((when, PointLot.remaining), else_=0)), 0)

    horizons = [
        total(
            and_(
                PointLot.remaining > 0,
                PointLot.expires_at > now,
                PointLot.expires_at <= now + timedelta(days=days),
            )
        )
        for days in EXPIRY_HORIZONS
    ]
    row = (
        await session.execute(
            select(
                total(and_(alive, PointLot.available_at <= now)),
                total(and_(alive, PointLot.available_at > now)),
                *horizons,
            ).where(
                PointLot.remaining != 0,
                *restrict(customers, PointLot.customer_id),
            )
        )
    ).one()
    available, pending = int(row[0]), int(row[1])
    points = available + pending
    return LiabilityOut(
        at=now,
        available=available,
        pending=pending,
        points=points,
        point_value=point_value,
        currency=currency,
        value=points * point_value,
        available_value=available * point_value,
        pending_value=pending * point_value,
        expiring=[
            Expiring(days=days, points=int(row[2 + i]), value=int(row[2 + i]) * point_value)
            for i, days in enumerate(EXPIRY_HORIZONS)
        ],
    )
