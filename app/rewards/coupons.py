"""Coupons: unguessable codes or codes from an imported pool, and the checkout's uses.

Every change of a coupon's status is one conditional ``UPDATE ... WHERE status = ...
RETURNING``: however many checkouts race on one code, the database lets one of them through.
"""

from datetime import datetime
from typing import Any

from sqlalchemy import and_, bindparam, func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from app.counters import add_on_commit
from app.database import insert_for
from app.errors import Conflict, NotFound
from app.models import Coupon, Reward, RewardClaim, RewardCode, RewardVersion
from app.models.base import table_of, utcnow
from app.rewards.counters import COUPON_REDEMPTIONS
from app.rewards.schemas import CouponOut
from app.webhooks import outbox


class UnknownCoupon(NotFound):
    slug = "unknown-coupon"
    title = "No such coupon"

    def __init__(self, code: str) -> None:
        super().__init__(f"No coupon has the code {code!r}.", extra={"code": code})


class CouponAlreadyUsed(Conflict):
    slug = "coupon-already-used"
    title = "Coupon already used"


class CouponExpired(Conflict):
    slug = "coupon-expired"
    title = "Coupon expired"


class CouponVoid(Conflict):
    slug = "coupon-void"
    title = "Coupon void"


class CouponRedemptionNotFound(NotFound):
    slug = "coupon-redemption-not-found"
    title = "Coupon not used on that order"


class DuplicateCodes(Conflict):
    slug = "duplicate-codes"
    title = "Codes already in use"


def status_of(coupon: Coupon, now: datetime) -> str:
    if coupon.status == "active" and coupon.expires_at <= now:
        return "expired"
    return coupon.status


async def view(session: AsyncSession, coupon: Coupon, now: datetime | None = None) -> CouponOut:
    """The coupon with what its claim's reward version says it is worth."""
    row = await session.execute(
        select(RewardVersion.document)
        .join(
            RewardClaim,
            and_(
                RewardClaim.reward_id == RewardVersion.reward_id,
                RewardClaim.reward_version == RewardVersion.version,
            ),
        )
        .where(RewardClaim.id == coupon.claim_id)
    )
    document: dict[str, Any] = row.scalar_one()
    return CouponOut(
        code=coupon.code,
        status=status_of(coupon, now or utcnow()),
        customer_id=coupon.customer_id,
        reward_id=coupon.reward_id,
        claim_id=coupon.claim_id,
        kind=document["kind"],
        value=document.get("value"),
        currency=document.get("currency"),
        product_id=document.get("product_id"),
        issued_at=coupon.issued_at,
        expires_at=coupon.expires_at,
        order_id=coupon.order_id,
        used_at=coupon.used_at,
    )


async def get(session: AsyncSession, code: str) -> Coupon:
    coupon = await session.scalar(
        select(Coupon).where(Coupon.code == code).execution_options(populate_existing=True)
    )
    if coupon is None:
        raise UnknownCoupon(code)
    return coupon


async def for_customer(session: AsyncSession, customer_id: str) -> list[Coupon]:
    result = await session.scalars(
        select(Coupon)
        .where(Coupon.customer_id == customer_id)
        .order_by(Coupon.issued_at.desc(), Coupon.code)
        .limit(500)
    )
    return list(result)


def _refusal(coupon: Coupon, now: datetime) -> Exception:
    status = status_of(coupon, now)
    extra = {"code": coupon.code, "status": status}
    if status == "used":
        return CouponAlreadyUsed(
            f"Coupon {coupon.code!r} was already used on order {coupon.order_id!r}.",
            extra={**extra, "order_id": coupon.order_id},
        )
    if status == "void":
        return CouponVoid(f"Coupon {coupon.code!r} was voided.", extra=extra)
    return CouponExpired(
        f"Coupon {coupon.code!r} expired at {coupon.expires_at.isoformat()}.", extra=extra
    )


_USE = (
    update(Coupon)
    .where(
        Coupon.code == bindparam("b_code"),
        Coupon.status == "active",
        Coupon.expires_at > bindparam("b_now"),
    )
    .values(status="used", order_id=bindparam("b_order_id"), used_at=bindparam("b_now"))
    .returning(Coupon.code)
)


async def redeem(session: AsyncSession, code: str, order_id: str) -> CouponOut:
    """Mark the coupon used on ``order_id``, exactly once."""
    now = utcnow()
    parameters = {"b_code": code, "b_now": now, "b_order_id": order_id}
    taken = (await session.execute(_USE, parameters)).first()
    coupon = await get(session, code)
    if taken is None:
        raise _refusal(coupon, now)
    add_on_commit(session.sync_session, COUPON_REDEMPTIONS, ("used",), 1)
    out = await view(session, coupon, now)
    await outbox.emit(
        session,
        outbox.WebhookEventType.coupon_redeemed,
        {
            "code": code,
            "customer_id": coupon.customer_id,
            "reward_id": coupon.reward_id,
            "claim_id": coupon.claim_id,
            "order_id": order_id,
        },
    )
    return out


async def release(session: AsyncSession, code: str, order_id: str) -> CouponOut:
    """Give the coupon back after ``order_id`` was cancelled: usable again until it expires."""
    released = (
        await session.execute(
            update(Coupon)
            .where(Coupon.code == code, Coupon.status == "used", Coupon.order_id == order_id)
            .values(status="active", order_id=None, used_at=None)
            .returning(Coupon.code)
        )
    ).first()
    coupon = await get(session, code)
    if released is None:
        raise CouponRedemptionNotFound(
            f"Coupon {code!r} is not used on order {order_id!r}.",
            extra={"code": code, "order_id": order_id},
        )
    add_on_commit(session.sync_session, COUPON_REDEMPTIONS, ("released",), 1)
    return await view(session, coupon)


async def void_for_claim(session: AsyncSession, claim_id: str) -> bool:
    """Void the claim's coupon unless it was used; answers whether it was voided."""
    voided = await session.execute(
        update(Coupon)
        .where(Coupon.claim_id == claim_id, Coupon.status == "active")
        .values(status="void")
        .returning(Coupon.code)
    )
    return voided.first() is not None


# --------------------------------------------------------------------------- pools


async def import_codes(session: AsyncSession, reward: Reward, codes: list[str]) -> tuple[int, int]:
    """Add ``codes`` to the reward's pool; a code already known anywhere refuses them all.
    Answers (imported, available)."""
    taken = set(await session.scalars(select(Coupon.code).where(Coupon.code.in_(codes)))) | set(
        await session.scalars(select(RewardCode.code).where(RewardCode.code.in_(codes)))
    )
    now = utcnow()
    if not taken:
        table = table_of(RewardCode)
        statement = insert_for(session)(table).on_conflict_do_nothing().returning(table.c.code)
        rows = [{"code": c, "reward_id": reward.id, "imported_at": now} for c in codes]
        inserted: set[str] = set()
        for start in range(0, len(rows), 1000):
            result = await session.execute(statement, rows[start : start + 1000])
            inserted.update(result.scalars())
        taken = set(codes) - inserted
    if taken:
        duplicates = sorted(taken)
        raise DuplicateCodes(
            f"{len(duplicates)} of the codes are already in use; none was imported.",
            extra={"codes": duplicates[:100]},
        )
    reward.pooled = True
    reward.updated_at = now
    await session.flush()
    return len(codes), await available_codes(session, reward.id)


async def available_codes(session: AsyncSession, reward_id: str) -> int:
    count = await session.scalar(
        select(func.count())
        .select_from(RewardCode)
        .where(RewardCode.reward_id == reward_id, RewardCode.taken_at.is_(None))
    )
    return int(count or 0)


def _next_free(reward_id: Any) -> Any:
    return (
        select(RewardCode.code)
        .where(RewardCode.reward_id == reward_id, RewardCode.taken_at.is_(None))
        .order_by(RewardCode.imported_at, RewardCode.code)
        .limit(1)
        # Concurrent claims of one pooled reward each take another code, none waits.
        .with_for_update(skip_locked=True)
        .scalar_subquery()
    )


async def take_code(session: AsyncSession, reward_id: str, now: datetime) -> str | None:
    """The pool's next free code, taken; None when the pool is empty."""
    result = await session.execute(
        update(RewardCode)
        .where(RewardCode.code == _next_free(reward_id), RewardCode.taken_at.is_(None))
        .values(taken_at=now)
        .returning(RewardCode.code)
    )
    return result.scalar()
