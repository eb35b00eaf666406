"""What the demo's shop does besides its customers' events: a small catalog, referral codes
for the referred sign-ups, and some customers claiming rewards and using the coupons."""

from typing import Any

from sqlalchemy import select

from app.database import Database
from app.demo.history import customer_id
from app.errors import ProblemError
from app.ledger import service as ledger
from app.models import Customer
from app.rewards import catalog, claims, coupons, referrals
from app.rewards.schemas import RewardIn

CATALOG: tuple[dict[str, Any], ...] = (
    {
        "name": "Free shipping",
        "description": "Free shipping on the next order.",
        "cost_points": 150,
        "kind": "free_shipping",
        "coupon_validity_days": 60,
    },
    {
        "name": "10 EUR voucher",
        "description": "10 EUR off an order of 30 EUR or more.",
        "cost_points": 500,
        "kind": "discount_fixed",
        "value": "10",
        "currency": "EUR",
        "stock": 2000,
        "coupon_validity_days": 30,
    },
    {
        "name": "Gold: 15% off",
        "description": "For gold members: 15% off one order.",
        "cost_points": 800,
        "kind": "discount_percent",
        "value": "15",
        "eligibility": {"fact": "customer.tier", "op": "eq", "value": "gold"},
        "per_customer_limit": {"count": 1, "period": "month"},
        "coupon_validity_days": 30,
    },
)


async def load_catalog(database: Database) -> list[str]:
    """The catalog's rewards, added once (by name); answers their ids, dearest first."""
    async with database.sessionmaker() as session, session.begin():
        have = {
            catalog.document_of(reward).name: reward.id
            for reward in await catalog.list_rewards(session)
        }
        for body in CATALOG:
            if body["name"] not in have:
                reward = await catalog.create(session, RewardIn.model_validate(body))
                have[body["name"]] = reward.id
    return [have[body["name"]] for body in sorted(CATALOG, key=lambda b: -b["cost_points"])]


async def with_codes(database: Database, chunk: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The chunk with each referred sign-up carrying its referrer's code, as a shop's sign-up
    form would pass it on. A referrer not stored yet (signed up in this same chunk) has no
    code to share: that sign-up names them in ``referred_by``, beside the shop's own
    ``referral`` event for the referrer, the other way a referral comes in."""
    referrers = sorted({e["data"]["referred_by"] for e in chunk if "referred_by" in e["data"]})
    if not referrers:
        return chunk
    async with database.sessionmaker() as session, session.begin():
        stored = set(await session.scalars(select(Customer.id).where(Customer.id.in_(referrers))))
        codes = {who: await referrals.code_for(session, who) for who in sorted(stored)}
    out: list[dict[str, Any]] = []
    for event in chunk:
        referrer = event["data"].get("referred_by")
        if referrer in codes:
            event = {**event, "data": {"referral_code": codes[referrer]}}
        elif referrer is not None:
            out.append(
                {
                    "id": f"{event['customer_id']}-referral",
                    "type": "referral",
                    "customer_id": referrer,
                    "occurred_at": event["occurred_at"],
                    "channel": event["channel"],
                    "data": {"referred_customer_id": event["customer_id"]},
                }
            )
        out.append(event)
    return out


async def claim_rewards(database: Database, rewards: list[str], first: int, last: int) -> int:
    """Every twentieth new customer claims the dearest reward they can afford and have, and
    every other coupon is used at checkout; answers the claims made."""
    made = 0
    async with database.sessionmaker() as session, session.begin():
        costs = {r: catalog.document_of(await catalog.get(session, r)).cost_points for r in rewards}
        for index in range(first, last + 1, 20):
            customer = await session.get(Customer, customer_id(index))
            if customer is None:
                continue
            available = (await ledger.balance(session, customer)).available
            for reward_id in (r for r in rewards if costs[r] <= available):
                try:
                    async with session.begin_nested():
                        claimed = await claims.claim(session, customer.id, reward_id)
                except ProblemError:
                    continue  # not eligible, over its limit, out of stock: the next one
                made += 1
                if made % 2:
                    await coupons.redeem(session, claimed.coupon.code, f"{customer.id}-checkout")
                break
    return made
