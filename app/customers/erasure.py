"""Erasure (GDPR article 17): personal data removed, the customer id replaced by a pseudonym.

What every metric and the ledger need stays, under the pseudonym: the events' types,
times, channels, amounts and scores, the orders, referrals, ledger entries, lots, badges,
perks, tier and aggregates. What identifies or describes the person goes: the profile, the
events' attributes, free text (review texts, survey comments) and free-form data. The
pseudonym is random, so nothing links it back to the id, and it is shaped so that no API
call can name it (it is not a valid external id): the erased customer cannot be read,
posted to or listed again.

Concurrency: the customer's row is locked first, as every write to that customer's points
does, so an erasure waits for an event being ingested for them and the next one waits for
it (and then creates a new customer under the old id: a new start, not a resurrection).
"""

import json
import uuid
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import String, cast, delete, select, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import InstrumentedAttribute

from app.models import (
    ChallengeProgress,
    CltvFit,
    CltvPrediction,
    Coupon,
    Customer,
    CustomerBadge,
    CustomerPerk,
    CustomerStreak,
    Event,
    ExperimentExposure,
    IdempotencyKey,
    LeaderboardScore,
    LedgerEntry,
    Order,
    PointLot,
    Referral,
    ReferralCode,
    RewardClaim,
    RuleLimitCounter,
    WebhookMessage,
)
from app.models.base import utcnow
from app.webhooks import outbox

PSEUDONYM_PREFIX = "~erased:"

# Per event type, the data fields kept: what the rules, metrics and ledger read, never
# free text. Types not listed (signup, subscription, cancellation) carry free-form data
# only, which is removed whole.
_KEPT_DATA = {
    "purchase": ("order_id", "amount", "currency", "items"),
    "refund": ("order_id", "amount"),
    "referral": ("referred_customer_id",),
    "review": ("rating", "product_id"),
    "renewal": ("subscription_id", "plan", "amount"),
    "feedback": ("survey", "score"),
    "upgrade": ("subscription_id", "plan", "amount"),
    "social_engagement": ("network", "action"),
}
# An order line may carry anything the shop sent (an engraving, a gift message): only
# these are kept.
_KEPT_ITEM_FIELDS = ("sku", "quantity", "price")

# Every column holding a customer id, moved to the pseudonym in one UPDATE each.
_CUSTOMER_COLUMNS: tuple[InstrumentedAttribute[str], ...] = (
    Event.customer_id,
    Order.customer_id,
    Referral.referrer_id,
    Referral.referred_customer_id,
    LedgerEntry.customer_id,
    PointLot.customer_id,
    CustomerBadge.customer_id,
    CustomerPerk.customer_id,
    RuleLimitCounter.customer_id,
    CltvPrediction.customer_id,
    RewardClaim.customer_id,
    Coupon.customer_id,
    ExperimentExposure.customer_id,
    LeaderboardScore.customer_id,
    CustomerStreak.customer_id,
    ChallengeProgress.customer_id,
)
# What the pseudonymous row keeps of the customer's: the metrics group by tier and read
# the first purchase; the balance is made of the points counters.
_KEPT_CUSTOMER_FIELDS = (
    "created_at",
    "first_seen_at",
    "tier",
    "tier_changed_at",
    "purchase_count",
    "lifetime_spend",
    "first_purchase_at",
    "last_purchase_at",
    "referral_count",
    "points_earned",
    "points_redeemed",
    "points_expired",
    "points_reversed",
    "points_adjusted",
)


@dataclass(frozen=True)
class Erasure:
    customer_id: str
    erased_at: datetime
    pseudonym: str
    rows: dict[str, int] = field(default_factory=dict)


def new_pseudonym() -> str:
    return PSEUDONYM_PREFIX + uuid.uuid4().hex


def renamed(document: Any, old: str, new: str) -> Any:
    """``document`` with every string equal to ``old`` (values and keys) replaced."""
    if isinstance(document, str):
        return new if document == old else document
    if isinstance(document, list):
        return [renamed(item, old, new) for item in document]
    if isinstance(document, dict):
        return {
            (new if key == old else key): renamed(value, old, new)
            for key, value in document.items()
        }
    return document


def scrubbed_data(event_type: str, data: dict[str, Any]) -> dict[str, Any]:
    kept = {name: data[name] for name in _KEPT_DATA.get(event_type, ()) if name in data}
    if isinstance(kept.get("items"), list):
        kept["items"] = [
            {name: item[name] for name in _KEPT_ITEM_FIELDS if name in item}
            if isinstance(item, dict)
            else None
            for item in kept["items"]
        ]
    return kept


async def _move_customer_ids(session: AsyncSession, old: str, new: str) -> dict[str, int]:
    moved: dict[str, int] = {}
    for column in _CUSTOMER_COLUMNS:
        result = await session.execute(
            update(column.class_)
            .where(column == old)
            .values({column.key: new})
            .execution_options(synchronize_session=False)
        )
        table = column.class_.__tablename__
        moved[table] = moved.get(table, 0) + result.rowcount  # type: ignore[attr-defined]
    return moved


async def _scrub_events(session: AsyncSession, old: str, new: str) -> None:
    """The customer's events (already moved): free text and attributes out, the pseudonym
    in their stored answers. Other customers' referrals of them: the pseudonym in the
    referral's typed column and data."""
    rows = (
        await session.execute(
            select(Event.id, Event.type, Event.data, Event.response).where(Event.customer_id == new)
        )
    ).all()
    for row in rows:
        await session.execute(
            update(Event)
            .where(Event.id == row.id)
            .values(
                data=scrubbed_data(row.type, row.data),
                attributes={},
                response=renamed(row.response, old, new),
            )
            .execution_options(synchronize_session=False)
        )
    referring = (
        await session.execute(
            select(Event.id, Event.data)
            .join(Referral, Referral.event_id == Event.id)
            .where(Referral.referred_customer_id == new)
        )
    ).all()
    for row in referring:
        await session.execute(
            update(Event)
            .where(Event.id == row.id)
            .values(referred_customer_id=new, data=renamed(row.data, old, new))
            .execution_options(synchronize_session=False)
        )


async def _rename_in_documents(session: AsyncSession, old: str, new: str) -> None:
    """Stored JSON that may name the customer: idempotent answers (a redemption's, a bulk
    award's), queued and delivered webhook payloads, and cached CLTV fits' top customers.
    The text match only narrows the rows down; ``renamed`` replaces exact strings only."""
    needle = json.dumps(old)
    # Redemptions' and adjustments' keys are scoped by the customer (app.ledger.router).
    for kind in ("redemption", "adjustment"):
        await session.execute(
            update(IdempotencyKey)
            .where(IdempotencyKey.scope == f"{kind}:{old}")
            .values(scope=f"{kind}:{new}")
            .execution_options(synchronize_session=False)
        )
    keys = await session.scalars(
        select(IdempotencyKey).where(
            cast(IdempotencyKey.response, String).contains(needle, autoescape=True)
        )
    )
    for key in keys:
        key.response = renamed(key.response, old, new)
    messages = await session.scalars(
        select(WebhookMessage).where(
            WebhookMessage.event_type != outbox.EventType.customer_erased.value,
            cast(WebhookMessage.payload, String).contains(needle, autoescape=True),
        )
    )
    for message in messages:
        message.payload = renamed(message.payload, old, new)
    fits = await session.scalars(
        select(CltvFit).where(cast(CltvFit.summary, String).contains(needle, autoescape=True))
    )
    for fit in fits:
        fit.summary = renamed(fit.summary, old, new)


async def erase(session: AsyncSession, customer_id: str) -> Erasure | None:
    """Erase the customer; None when there is no such customer (erased already, or never
    seen), so that a repeat changes nothing and sends nothing."""
    customer = await session.scalar(
        select(Customer)
        .where(Customer.id == customer_id, Customer.erased_at.is_(None))
        .with_for_update()
        .execution_options(populate_existing=True)
    )
    if customer is None:
        return None
    now = utcnow()
    alias = new_pseudonym()
    kept = {name: getattr(customer, name) for name in _KEPT_CUSTOMER_FIELDS}
    # The pseudonym's row first, so that every foreign key can point at it at once.
    session.add(Customer(id=alias, erased_at=now, **kept))
    await session.flush()
    rows = await _move_customer_ids(session, customer_id, alias)
    # The referral code is shared in public and names the person: it goes, and no longer
    # resolves to anyone.
    await session.execute(delete(ReferralCode).where(ReferralCode.customer_id == customer_id))
    # The scores stay (they are part of each period's standings) but are no one's to list.
    await session.execute(
        update(LeaderboardScore)
        .where(LeaderboardScore.customer_id == alias)
        .values(hidden=True)
        .execution_options(synchronize_session=False)
    )
    await _scrub_events(session, customer_id, alias)
    await _rename_in_documents(session, customer_id, alias)
    await session.execute(
        delete(Customer)
        .where(Customer.id == customer_id)
        .execution_options(synchronize_session=False)
    )
    session.expunge(customer)
    await outbox.customer_erased(session, customer_id, now)
    await session.flush()
    return Erasure(customer_id=customer_id, erased_at=now, pseudonym=alias, rows=rows)
