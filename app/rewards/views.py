"""What the shop's routes and the shopper's own answer alike: a claim, coupons, the catalog
as one customer sees it."""

from fastapi.responses import JSONResponse
from sqlalchemy.ext.asyncio import AsyncSession

from app.customers import service as customers
from app.idempotency import run_once
from app.ledger import service as ledger
from app.models.base import utcnow
from app.rewards import catalog, claims, coupons
from app.rewards.schemas import ClaimIn, ClaimOut, CouponListOut, MyRewardListOut, MyRewardOut


async def claim(
    session: AsyncSession, customer_id: str, body: ClaimIn, idempotency_key: str | None
) -> ClaimOut | JSONResponse:
    async def work() -> ClaimOut:
        return await claims.claim(session, customer_id, body.reward_id)

    return await run_once(
        session, scope=f"claim:{customer_id}", key=idempotency_key, request=body, work=work
    )


async def coupon_list(session: AsyncSession, customer_id: str) -> CouponListOut:
    await customers.get(session, customer_id)
    now = utcnow()
    found = await coupons.for_customer(session, customer_id)
    return CouponListOut(items=[await coupons.view(session, c, now) for c in found])


async def catalog_for(session: AsyncSession, customer_id: str) -> MyRewardListOut:
    """The rewards claimable now, each saying whether the customer can afford it and is
    eligible, and why not."""
    customer = await customers.get(session, customer_id)
    now = utcnow()
    facts = await claims.facts(session, customer, now)
    balance = await ledger.balance(session, customer, now)
    items = []
    for reward in await catalog.list_rewards(session):
        document = catalog.document_of(reward)
        if catalog.window_problem(document, now) is not None:
            continue
        key = catalog.limit_key(document, now)
        used = await catalog.claims_in_period(session, customer.id, reward.id, key)
        eligible = catalog.eligibility(document, facts, now)
        refused = claims.refusals(reward, document, eligible, used, now)
        reasons = [problem.detail for problem in refused]
        affordable = balance.available >= document.cost_points
        if not affordable:
            missing = document.cost_points - max(balance.available, 0)
            reasons.append(f"{missing} more points needed")
        out = catalog.reward_out(reward)
        items.append(
            MyRewardOut(
                **out.model_dump(), affordable=affordable, eligible=not refused, reasons=reasons
            )
        )
    return MyRewardListOut(items=items)
