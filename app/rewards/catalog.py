"""The rewards catalog: rewards with versioned documents, their live stock, and the checks a
claim makes (window, eligibility, per-customer limit) as plain functions of what was read."""

import secrets
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from fastapi.exceptions import RequestValidationError
from pydantic import ValidationError
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from app.errors import Conflict, NotFound
from app.models import Reward, RewardClaim, RewardVersion
from app.models.base import utcnow
from app.rewards.schemas import RewardDocument, RewardIn, RewardOut, RewardPatch
from app.rules.engine import RuleRuntimeError, compile_condition
from app.rules.engine.context import _Ctx
from app.rules.facts import CustomerFacts, EventFacts
from app.rules.limits import period_key


class UnknownReward(NotFound):
    slug = "unknown-reward"
    title = "No such reward"

    def __init__(self, reward_id: str) -> None:
        super().__init__(f"Reward {reward_id!r} does not exist.", extra={"reward_id": reward_id})


class RewardInactive(Conflict):
    slug = "reward-inactive"
    title = "Reward not claimable now"


class RewardOutOfStock(Conflict):
    slug = "reward-out-of-stock"
    title = "Reward out of stock"

    def __init__(self, reward_id: str) -> None:
        super().__init__(f"Reward {reward_id!r} has no units left.", extra={"reward_id": reward_id})


class RewardNotEligible(Conflict):
    slug = "reward-not-eligible"
    title = "Customer not eligible for the reward"


class RewardLimitReached(Conflict):
    slug = "reward-limit-reached"
    title = "Reward claimed as often as allowed"


def new_reward_id() -> str:
    return f"rwd_{secrets.token_hex(8)}"


def stored(document: RewardDocument) -> dict[str, Any]:
    return document.model_dump(mode="json", by_alias=True, exclude_none=True)


def document_of(reward: Reward) -> RewardDocument:
    return RewardDocument.model_validate(reward.document)


def reward_out(reward: Reward) -> RewardOut:
    document = reward.document
    return RewardOut.model_validate(
        {
            **document,
            "id": reward.id,
            "version": reward.current_version,
            "stock": reward.stock,
            "pooled": reward.pooled,
            "created_at": reward.created_at,
            "updated_at": reward.updated_at,
        }
    )


async def get(session: AsyncSession, reward_id: str, *, lock: bool = False) -> Reward:
    """A reward of the catalog; a deleted one is unknown."""
    statement = select(Reward).where(Reward.id == reward_id, Reward.deleted_at.is_(None))
    if lock:
        statement = statement.with_for_update().execution_options(populate_existing=True)
    reward = await session.scalar(statement)
    if reward is None:
        raise UnknownReward(reward_id)
    return reward


async def list_rewards(session: AsyncSession) -> list[Reward]:
    result = await session.scalars(
        select(Reward).where(Reward.deleted_at.is_(None)).order_by(Reward.created_at, Reward.id)
    )
    return list(result)


async def create(session: AsyncSession, body: RewardIn) -> Reward:
    now = utcnow()
    document = stored(RewardDocument.model_validate(body.model_dump(exclude={"stock"})))
    reward = Reward(
        id=new_reward_id(),
        current_version=1,
        document=document,
        stock=body.stock,
        pooled=False,
        created_at=now,
        updated_at=now,
    )
    session.add(reward)
    session.add(RewardVersion(reward_id=reward.id, version=1, document=document, created_at=now))
    await session.flush()
    return reward


async def update(session: AsyncSession, reward_id: str, patch: RewardPatch) -> Reward:
    """Apply ``patch``; a changed document is the reward's next version."""
    reward = await get(session, reward_id, lock=True)
    changes = patch.model_dump(mode="json", by_alias=True, exclude_unset=True)
    if "stock" in changes:
        reward.stock = changes.pop("stock")
    merged = {k: v for k, v in {**reward.document, **changes}.items() if v is not None}
    try:
        document = stored(RewardDocument.model_validate(merged))
    except ValidationError as exc:
        # The patch is valid alone but not with what it leaves of the reward (a kind that
        # wants a currency, say): answered as the body's own errors, at their places.
        errors = [{**e, "loc": ("body", *e["loc"])} for e in exc.errors(include_url=False)]
        raise RequestValidationError(errors, body=changes) from None
    now = utcnow()
    if document != reward.document:
        reward.current_version += 1
        reward.document = document
        session.add(
            RewardVersion(
                reward_id=reward.id,
                version=reward.current_version,
                document=document,
                created_at=now,
            )
        )
    reward.updated_at = now
    await session.flush()
    return reward


async def delete(session: AsyncSession, reward_id: str) -> None:
    """Take the reward out of the catalog; its claims and coupons stay as they are."""
    reward = await get(session, reward_id, lock=True)
    reward.deleted_at = reward.updated_at = utcnow()
    await session.flush()


async def version_document(session: AsyncSession, reward_id: str, version: int) -> RewardDocument:
    row = await session.get(RewardVersion, (reward_id, version))
    assert row is not None, "a claim's reward version exists"
    return RewardDocument.model_validate(row.document)


# --------------------------------------------------------------------------- claim checks


def window_problem(document: RewardDocument, now: datetime) -> str | None:
    if document.active_from is not None and now < document.active_from:
        return f"claimable from {document.active_from.isoformat()}"
    if document.active_until is not None and now >= document.active_until:
        return f"claimable until {document.active_until.isoformat()}"
    return None


@dataclass(frozen=True, slots=True)
class Eligibility:
    eligible: bool
    reason: str


def eligibility(document: RewardDocument, facts: CustomerFacts, now: datetime) -> Eligibility:
    """The eligibility condition against the customer's facts; the reason reads as explain's."""
    if document.eligibility is None:
        return Eligibility(True, "no conditions")
    _, explain = compile_condition(document.eligibility, [])
    try:
        held, reason = explain(_Ctx(EventFacts(type="claim", occurred_at=now), facts))
    except RuleRuntimeError as exc:  # a condition that cannot be read is not met
        return Eligibility(False, f"error: {exc}")
    return Eligibility(held, reason)


def limit_key(document: RewardDocument, now: datetime) -> str:
    limit = document.per_customer_limit
    return period_key(limit.period if limit is not None else "lifetime", now)


async def claims_in_period(
    session: AsyncSession, customer_id: str, reward_id: str, key: str
) -> int:
    """The customer's own claims of the reward in the period ``key``: void ones do not
    count, nor coupons rules handed out."""
    count = await session.scalar(
        select(func.count())
        .select_from(RewardClaim)
        .where(
            RewardClaim.customer_id == customer_id,
            RewardClaim.reward_id == reward_id,
            RewardClaim.period_key == key,
            RewardClaim.status != "void",
            RewardClaim.event_id.is_(None),
        )
    )
    return int(count or 0)
