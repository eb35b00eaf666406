"""Ingestion: claim the event id, ask the rules what it earns, write the effects.

One event is one transaction (or one savepoint inside a batch): the claim, the ledger,
the customer's aggregates and the stored response commit together or not at all.
"""

import hashlib
import json
import logging
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal
from functools import cache
from typing import Any, cast

from sqlalchemy import Table, bindparam, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from app.config import Settings
from app.customers import service as customers
from app.database import insert_for
from app.errors import Conflict, Unprocessable
from app.events.schemas import (
    AnyEvent,
    EffectOut,
    EventResult,
    FeedbackEvent,
    PurchaseEvent,
    ReferralEvent,
    RefundEvent,
    SkippedOut,
)
from app.ledger import service as ledger
from app.ledger.schemas import BalanceOut
from app.models import Customer, EntryKind, Event, Order, Referral
from app.models.base import utcnow
from app.rules import service as rules
from app.rules.engine import Effect, Outcome, evaluate
from app.rules.facts import CustomerFacts, EventFacts
from app.webhooks import outbox

logger = logging.getLogger(__name__)


class EventIdConflict(Conflict):
    slug = "event-id-conflict"
    title = "Event id reused with a different body"


class DuplicateOrder(Conflict):
    slug = "duplicate-order"
    title = "Order already recorded"


class DuplicateReferral(Conflict):
    slug = "duplicate-referral"
    title = "Customer already referred"


class UnknownOrder(Unprocessable):
    slug = "unknown-order"
    title = "Refund for an unknown order"


class RefundTooLarge(Unprocessable):
    slug = "refund-exceeds-purchase"
    title = "Refund exceeds what is left of the purchase"


@dataclass(frozen=True)
class PointsPolicy:
    pending_days: int
    validity_days: int
    allow_negative: bool

    @classmethod
    def from_settings(cls, settings: Settings) -> "PointsPolicy":
        return cls(
            pending_days=settings.points_pending_days,
            validity_days=settings.points_validity_days,
            allow_negative=settings.refund_allow_negative_balance,
        )

    def lot_dates(self, event: AnyEvent) -> tuple[datetime, datetime | None]:
        # The return window only makes sense for what a purchase earned.
        pending = self.pending_days if isinstance(event, PurchaseEvent) else 0
        available_at = event.occurred_at + timedelta(days=pending)
        expires_at = (
            event.occurred_at + timedelta(days=self.validity_days) if self.validity_days else None
        )
        return available_at, expires_at


@dataclass(frozen=True)
class Ingested:
    result: EventResult
    replayed: bool


def body_hash(event: AnyEvent) -> str:
    canonical = json.dumps(event.model_dump(mode="json"), sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()


def _event_facts(event: AnyEvent) -> EventFacts:
    return EventFacts(
        type=event.type.value,
        occurred_at=event.occurred_at,
        data=event.data.model_dump(),
        attributes=event.attributes,
        channel=event.channel,
    )


async def _customer_facts(
    session: AsyncSession, customer: Customer, occurred_at: datetime, reads: frozenset[str]
) -> CustomerFacts:
    # Badges and the balance each cost a query; most programmes never compare them.
    badges: frozenset[str] = frozenset()
    if "customer.badges" in reads:
        badges = frozenset(b.badge for b in await customers.badges(session, customer.id))
    available = 0
    if "customer.available_points" in reads:
        available = (await ledger.balance(session, customer)).available
    last = customer.last_purchase_at
    return CustomerFacts(
        purchase_count=customer.purchase_count,
        lifetime_spend=customer.lifetime_spend,
        days_since_last_purchase=max((occurred_at - last).days, 0) if last else None,
        tier=customer.tier,
        badges=badges,
        available_points=available,
        signup_date=customer.first_seen_at.date(),
        referral_count=customer.referral_count,
    )


def _typed_columns(event: AnyEvent) -> dict[str, Any]:
    data = event.data
    columns: dict[str, Any] = {}
    for name in ("order_id", "amount", "currency", "referred_customer_id", "survey", "score"):
        value = getattr(data, name, None)
        if value is not None:
            columns[name] = value
    return columns


# On the tables rather than the mapped classes: these return no objects, and the ORM's
# bulk-statement path costs more than the statements themselves.
_EVENTS = cast(Table, Event.__table__)
_STORE_RESPONSE = (
    update(_EVENTS)
    .where(_EVENTS.c.id == bindparam("event_id"))
    .values(response=bindparam("answer"))
)


# The statements every event runs are built once (per dialect, where ON CONFLICT differs)
# and executed with parameters: constructing them and their cache keys cost about as much
# as running them.
@cache
def _claim_statement(insert: Any) -> Any:
    return insert(_EVENTS).on_conflict_do_nothing(index_elements=["id"]).returning(_EVENTS.c.id)


async def _claim(session: AsyncSession, event: AnyEvent, digest: str, version: int) -> bool:
    """Insert the event row; False when the id was already taken.

    The primary key arbitrates between concurrent posts of one id: on PostgreSQL the
    second insert waits for the first transaction and then does nothing.
    """
    values = {
        "id": event.id,
        "type": event.type.value,
        "customer_id": event.customer_id,
        "occurred_at": event.occurred_at,
        "received_at": utcnow(),
        "channel": event.channel,
        "data": event.data.model_dump(mode="json"),
        "attributes": event.attributes,
        "body_hash": digest,
        "ruleset_version": version,
        "response": {},
        **_typed_columns(event),
    }
    statement = _claim_statement(insert_for(session))
    return (await session.execute(statement, values)).first() is not None


async def _replay(session: AsyncSession, event_id: str, digest: str) -> Ingested:
    stored = (
        await session.execute(select(Event.body_hash, Event.response).where(Event.id == event_id))
    ).one()
    if stored.body_hash != digest:
        raise EventIdConflict(
            f"Event {event_id!r} was already processed with a different body. "
            "Use a new id for a new event.",
            extra={"event_id": event_id},
        )
    return Ingested(result=EventResult.model_validate(stored.response), replayed=True)


@cache
def _order_statement(insert: Any) -> Any:
    orders = Order.__table__
    return insert(orders).on_conflict_do_nothing(index_elements=["id"]).returning(orders.c.id)


async def _record_purchase(
    session: AsyncSession, customer: Customer, event: PurchaseEvent, points_earned: int
) -> None:
    data = event.data
    values = {
        "id": data.order_id,
        "customer_id": customer.id,
        "purchase_event_id": event.id,
        "amount": data.amount,
        "currency": data.currency,
        "refunded_amount": Decimal(0),
        "points_earned": points_earned,
        "points_reversed": 0,
        "points_shortfall": 0,
    }
    statement = _order_statement(insert_for(session))
    claimed = (await session.execute(statement, values)).first()
    if claimed is None:
        raise DuplicateOrder(
            f"Order {data.order_id!r} was already recorded by another purchase event.",
            extra={"order_id": data.order_id},
        )
    customer.purchase_count += 1
    customer.lifetime_spend += data.amount
    if customer.first_purchase_at is None or event.occurred_at < customer.first_purchase_at:
        customer.first_purchase_at = event.occurred_at
    if customer.last_purchase_at is None or event.occurred_at > customer.last_purchase_at:
        customer.last_purchase_at = event.occurred_at


async def _record_referral(session: AsyncSession, customer: Customer, event: ReferralEvent) -> None:
    referred = event.data.referred_customer_id
    insert = insert_for(session)
    claimed = (
        await session.execute(
            insert(Referral)
            .values(
                referred_customer_id=referred,
                referrer_id=customer.id,
                event_id=event.id,
                occurred_at=event.occurred_at,
            )
            .on_conflict_do_nothing(index_elements=["referred_customer_id"])
            .returning(Referral.event_id)
        )
    ).first()
    if claimed is None:
        raise DuplicateReferral(
            f"Customer {referred!r} was already referred; a customer is referred once.",
            extra={"referred_customer_id": referred},
        )
    customer.referral_count += 1


async def _refund(
    session: AsyncSession, customer: Customer, event: RefundEvent, policy: PointsPolicy
) -> EffectOut:
    data = event.data
    order = await session.scalar(select(Order).where(Order.id == data.order_id).with_for_update())
    if order is None or order.customer_id != customer.id:
        raise UnknownOrder(
            f"No purchase with order_id {data.order_id!r} for customer {customer.id!r}.",
            extra={"order_id": data.order_id},
        )
    refundable = order.amount - order.refunded_amount
    if data.amount > refundable:
        raise RefundTooLarge(
            f"Order {order.id!r} has {refundable} {order.currency} left to refund, "
            f"not {data.amount}.",
            extra={"order_id": order.id, "refundable": str(refundable)},
        )
    order.refunded_amount += data.amount
    customer.lifetime_spend -= data.amount
    # Cumulative, so that several partial refunds never take back more than was earned.
    due = ledger.proportional(order.points_earned, order.refunded_amount, order.amount)
    to_claw = due - order.points_reversed - order.points_shortfall
    clawback = await ledger.claw_back(
        session,
        customer,
        to_claw,
        order_id=order.id,
        event_id=event.id,
        allow_negative=policy.allow_negative,
    )
    order.points_reversed += clawback.reversed
    order.points_shortfall += clawback.shortfall
    return EffectOut(
        rule_id=None,
        rule_name=None,
        action="reverse_points",
        points=-clawback.reversed,
        shortfall=clawback.shortfall or None,
    )


def _effect_out(effect: Effect) -> EffectOut:
    return EffectOut(
        rule_id=effect.rule_id,
        rule_name=effect.rule_name,
        action=effect.action,
        points=effect.points,
        badge=effect.badge,
        tier=effect.tier,
        perk=effect.perk,
        perk_expires_at=effect.perk_expires_at,
        notification=effect.notification,
        template=effect.template,
    )


async def _apply(
    session: AsyncSession,
    customer: Customer,
    event: AnyEvent,
    outcome: Outcome,
    policy: PointsPolicy,
) -> int:
    """Write the rules' effects; answers the points credited."""
    available_at, expires_at = policy.lot_dates(event)
    credited = 0
    for effect in outcome.effects:
        if effect.action in ("award_points", "multiply_points"):
            if effect.points and effect.points > 0:
                await ledger.credit(
                    session,
                    customer,
                    effect.points,
                    kind=EntryKind.earn,
                    reason=f"{effect.rule_name} ({event.type.value} {event.id})",
                    available_at=available_at,
                    expires_at=expires_at,
                    event_id=event.id,
                    rule_id=effect.rule_id,
                    order_id=getattr(event.data, "order_id", None),
                    # The event's answer does not show entry ids: one flush at the end.
                    deferred=True,
                )
                credited += effect.points
        elif effect.action == "award_badge" and effect.badge:
            if await customers.award_badge(
                session, customer, effect.badge, event_id=event.id, rule_id=effect.rule_id
            ):
                await outbox.badge_awarded(session, customer.id, event.id, effect)
        elif effect.action == "set_tier" and effect.tier:
            previous_tier = customer.tier
            if customers.set_tier(customer, effect.tier):
                await outbox.tier_changed(session, customer.id, event.id, effect, previous_tier)
        elif effect.action == "grant_perk" and effect.perk:
            await customers.grant_perk(
                session,
                customer,
                effect.perk,
                expires_at=effect.perk_expires_at,
                event_id=event.id,
                rule_id=effect.rule_id,
            )
            await outbox.perk_granted(session, customer.id, event.id, effect)
        elif effect.action == "notify":
            await outbox.notification_requested(session, customer.id, event.id, effect)
    return credited


async def ingest(
    session: AsyncSession,
    event: AnyEvent,
    *,
    policy: PointsPolicy,
    explain: bool = False,
    active: rules.ActiveRuleset | None = None,
) -> Ingested:
    """Process one event exactly once; a repeat of the same event replays its response.

    ``active`` is the ruleset to judge it by, when the caller has read it already (a batch
    is judged by the one version active when it started); otherwise the current one.
    """
    digest = body_hash(event)
    customer = await customers.lock_or_create(session, event.customer_id, event.occurred_at)
    active = active or await rules.active_ruleset(session)
    ruleset = active.compiled
    facts = await _customer_facts(session, customer, event.occurred_at, active.facts)
    usage = await rules.limit_usage(
        session, ruleset, event.type.value, customer.id, event.occurred_at
    )
    outcome = evaluate(ruleset, _event_facts(event), facts, usage, explain=explain)
    for error in outcome.errors:
        logger.warning(
            "rule failed while evaluating an event",
            extra={"rule_id": error.rule_id, "event_id": event.id, "error": error.message},
        )

    if not await _claim(session, event, digest, ruleset.version):
        return await _replay(session, event.id, digest)

    outcome.effects, dropped = await rules.consume_limits(
        session, ruleset, outcome, customer.id, event.occurred_at
    )
    effects = [_effect_out(e) for e in outcome.effects]
    # The statements below are inserts that do not depend on the pending ledger rows and
    # customer counters; without autoflush those go out in one flush (one UPDATE of the
    # customer) instead of one per statement.
    with session.no_autoflush:
        credited = await _apply(session, customer, event, outcome, policy)
        if active.tiers is not None:
            promoted = rules.tier_promotion(active.tiers, customer.tier, customer.points_earned)
            if promoted is not None and customers.set_tier(customer, promoted):
                effects.append(
                    EffectOut(
                        rule_id=None, rule_name="tier ladder", action="set_tier", tier=promoted
                    )
                )
        if isinstance(event, PurchaseEvent):
            await _record_purchase(session, customer, event, credited)
        elif isinstance(event, ReferralEvent):
            await _record_referral(session, customer, event)
    if isinstance(event, RefundEvent):
        effects.append(await _refund(session, customer, event, policy))
    elif isinstance(event, FeedbackEvent):
        await outbox.feedback_received(
            session,
            customer_id=customer.id,
            event_id=event.id,
            survey=event.data.survey,
            score=event.data.score,
        )

    balance = await ledger.balance(session, customer)
    result = EventResult(
        event_id=event.id,
        customer_id=customer.id,
        type=event.type,
        ruleset_version=ruleset.version,
        effects=effects,
        balance=BalanceOut.model_validate(balance),
    )
    await session.execute(
        _STORE_RESPONSE, {"event_id": event.id, "answer": result.model_dump(mode="json")}
    )
    if explain:
        # Rule errors are already among the skipped rules, as "error: ...".
        result.explain = [SkippedOut(**s._asdict()) for s in outcome.skipped] + [
            SkippedOut(rule_id=d.rule_id, rule_name=d.rule_name, reason=d.reason) for d in dropped
        ]
    return Ingested(result=result, replayed=False)
