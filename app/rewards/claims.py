"""Claims: a reward bought with points, its coupon issued, in one transaction; and voids.

Concurrency: the customer's row is locked first (as every change to their points is), so
one customer's claims queue and each sees the last one's limit usage and balance. The
stock is taken last, by ``UPDATE rewards SET stock = stock - 1 WHERE stock > 0``: however
many customers race for the last units, the database hands out exactly what is left, and
a claim that loses rolls back whole, its debit included.
"""

from datetime import datetime, timedelta

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from app.customers import service as customers
from app.errors import Conflict, NotFound
from app.ledger import service as ledger
from app.ledger.schemas import BalanceOut
from app.models import Coupon, Customer, EntryKind, Reward, RewardClaim
from app.models.base import utcnow
from app.rewards import catalog, coupons
from app.rewards.catalog import (
    RewardInactive,
    RewardLimitReached,
    RewardNotEligible,
    RewardOutOfStock,
)
from app.rewards.codes import new_claim_id, new_code
from app.rewards.schemas import ClaimOut, RewardDocument, VoidOut
from app.rules.facts import CustomerFacts
from app.webhooks import outbox


class UnknownClaim(NotFound):
    slug = "unknown-claim"
    title = "No such claim"


class ClaimAlreadyVoid(Conflict):
    slug = "claim-already-void"
    title = "Claim already voided"


async def facts(session: AsyncSession, customer: Customer, now: datetime) -> CustomerFacts:
    """The customer's facts as the rules see them, for an eligibility condition."""
    badges = {badge.badge for badge in await customers.badges(session, customer.id)}
    balance = await ledger.balance(session, customer, now)
    last = customer.last_purchase_at
    return CustomerFacts(
        purchase_count=customer.purchase_count,
        lifetime_spend=customer.lifetime_spend,
        days_since_last_purchase=max((now - last).days, 0) if last else None,
        tier=customer.tier,
        badges=frozenset(badges),
        available_points=balance.available,
        signup_date=customer.first_seen_at.date(),
        referral_count=customer.referral_count,
    )


def refusals(
    reward: Reward,
    document: RewardDocument,
    eligible: catalog.Eligibility,
    used: int,
    now: datetime,
) -> list[Conflict]:
    """Everything that keeps the customer from claiming the reward now, points aside."""
    found: list[Conflict] = []
    window = catalog.window_problem(document, now)
    if window is not None:
        found.append(
            RewardInactive(
                f"Reward {reward.id!r} is not claimable now: {window}.",
                extra={"reward_id": reward.id},
            )
        )
    if not eligible.eligible:
        found.append(
            RewardNotEligible(
                f"The customer is not eligible for reward {reward.id!r}: {eligible.reason}.",
                extra={"reward_id": reward.id, "condition": eligible.reason},
            )
        )
    limit = document.per_customer_limit
    if limit is not None and used >= limit.count:
        found.append(
            RewardLimitReached(
                f"Reward {reward.id!r} may be claimed {limit.count} time(s) per "
                f"{limit.period}, and was.",
                extra={"reward_id": reward.id, "count": limit.count, "period": limit.period},
            )
        )
    if reward.stock is not None and reward.stock <= 0:
        found.append(RewardOutOfStock(reward.id))
    return found


async def take_stock(session: AsyncSession, reward_id: str) -> bool:
    """One unit of the reward's stock, atomically; an unlimited reward always has one."""
    result = await session.execute(
        update(Reward)
        .where(Reward.id == reward_id, Reward.stock.is_not(None), Reward.stock > 0)
        .values(stock=Reward.stock - 1)
        .returning(Reward.stock)
    )
    return result.first() is not None


async def issue_coupon(
    session: AsyncSession,
    reward: Reward,
    document: RewardDocument,
    claim_id: str,
    customer_id: str,
    now: datetime,
) -> Coupon:
    if reward.pooled:
        code = await coupons.take_code(session, reward.id, now)
        if code is None:
            raise RewardOutOfStock(reward.id)
    else:
        code = new_code()
    coupon = Coupon(
        code=code,
        claim_id=claim_id,
        reward_id=reward.id,
        customer_id=customer_id,
        status="active",
        issued_at=now,
        expires_at=now + timedelta(days=document.coupon_validity_days),
    )
    session.add(coupon)
    return coupon


async def claim(session: AsyncSession, customer_id: str, reward_id: str) -> ClaimOut:
    """Spend the reward's points and issue its coupon, or refuse with the first reason."""
    customer = await customers.lock(session, customer_id)
    reward = await catalog.get(session, reward_id)
    document = catalog.document_of(reward)
    now = utcnow()
    key = catalog.limit_key(document, now)
    used = await catalog.claims_in_period(session, customer.id, reward.id, key)
    eligible = catalog.eligibility(document, await facts(session, customer, now), now)
    found = refusals(reward, document, eligible, used, now)
    if found:
        raise found[0]
    claim_id = new_claim_id()
    entry = await ledger.debit(
        session,
        customer,
        document.cost_points,
        kind=EntryKind.redeem,
        reason=f"reward {document.name} ({reward.id})",
        reference=claim_id,
    )
    if reward.stock is not None and not await take_stock(session, reward.id):
        raise RewardOutOfStock(reward.id)
    session.add(
        RewardClaim(
            id=claim_id,
            customer_id=customer.id,
            reward_id=reward.id,
            reward_version=reward.current_version,
            points=document.cost_points,
            period_key=key,
            entry_id=entry.id,
            status="active",
            created_at=now,
        )
    )
    await session.flush()
    coupon = await issue_coupon(session, reward, document, claim_id, customer.id, now)
    await session.flush()
    await outbox.emit(
        session,
        outbox.WebhookEventType.reward_claimed,
        {
            "claim_id": claim_id,
            "customer_id": customer.id,
            "reward_id": reward.id,
            "reward_version": reward.current_version,
            "points": document.cost_points,
            "code": coupon.code,
            "expires_at": coupon.expires_at.isoformat().replace("+00:00", "Z"),
            "event_id": None,
            "rule_id": None,
        },
    )
    balance = await ledger.balance(session, customer, now)
    return ClaimOut(
        claim_id=claim_id,
        customer_id=customer.id,
        reward_id=reward.id,
        reward_version=reward.current_version,
        points=document.cost_points,
        coupon=await coupons.view(session, coupon, now),
        balance=BalanceOut.model_validate(balance),
        created_at=now,
    )


async def void(session: AsyncSession, claim_id: str, validity_days: int) -> VoidOut:
    """Void the claim and its coupon, its points back as a ``reverse`` entry and its unit
    back in stock; refused once the coupon was used."""
    found = await session.get(RewardClaim, claim_id)
    if found is None:
        raise UnknownClaim(f"Claim {claim_id!r} does not exist.", extra={"claim_id": claim_id})
    customer = await customers.lock(session, found.customer_id)
    # Read again under the customer's lock: a concurrent void may have committed meanwhile.
    claimed = await session.scalar(
        select(RewardClaim)
        .where(RewardClaim.id == claim_id)
        .execution_options(populate_existing=True)
    )
    assert claimed is not None
    coupon = await session.scalar(select(Coupon).where(Coupon.claim_id == claim_id))
    assert coupon is not None
    if claimed.status == "void":
        raise ClaimAlreadyVoid(
            f"Claim {claim_id!r} was already voided.", extra={"claim_id": claim_id}
        )
    if not await coupons.void_for_claim(session, claim_id):
        coupon = await coupons.get(session, coupon.code)
        raise coupons.CouponAlreadyUsed(
            f"The coupon of claim {claim_id!r} was used on order {coupon.order_id!r}: "
            "the claim stands.",
            extra={"claim_id": claim_id, "code": coupon.code, "order_id": coupon.order_id},
        )
    now = utcnow()
    claimed.status, claimed.voided_at = "void", now
    if claimed.points > 0:
        await ledger.credit(
            session,
            customer,
            claimed.points,
            kind=EntryKind.reverse,
            reason=f"claim {claim_id} of reward {claimed.reward_id} voided",
            available_at=now,
            expires_at=now + timedelta(days=validity_days) if validity_days else None,
            reference=claim_id,
        )
    await session.execute(
        update(Reward)
        .where(Reward.id == claimed.reward_id, Reward.stock.is_not(None))
        .values(stock=Reward.stock + 1)
    )
    await session.flush()
    coupon = await coupons.get(session, coupon.code)
    balance = await ledger.balance(session, customer, now)
    return VoidOut(
        claim_id=claim_id,
        customer_id=customer.id,
        points_returned=claimed.points,
        coupon=await coupons.view(session, coupon, now),
        balance=BalanceOut.model_validate(balance),
    )
