"""The unit's state in memory, and the pure reducer that moves it one event on.

The ingest pipeline loads what a unit of events needs (customers, balances, limit usage,
orders, ...) into a ``UnitState``, then calls ``reduce`` once per event in order. ``reduce``
does no I/O: it asks the compiled rules what the event earns, applies the state transition
(counters, lots, tiers, badges, perks, limits) and records each change for the writer. The
second event of a customer in a unit therefore sees the state the first one left, exactly as
if they had been posted one after the other. The backtest and dry runs call the same function.

Refusals (a duplicate order, a refund too large, ...) are raised before anything is changed,
so a refused event leaves the state as it found it.
"""

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from app.errors import Conflict, Unprocessable
from app.events.types import EventType
from app.gamification.challenges import track
from app.gamification.scoring import score
from app.rules.effects import EventStep, Judge, effect_answer, effect_out
from app.rules.engine import RuleError, evaluate
from app.rules.facts import CustomerFacts, EventFacts, LimitUsage, RuleUsage
from app.rules.limits import period_key
from app.rules.streaks import advance
from app.rules.tiers import tier_promotion
from app.rules.unit import CustomerState, OrderState, UnitState
from app.webhooks.outbox import is_detractor


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


@dataclass(slots=True)
class Reduced:
    """An accepted event: its answer (as stored) and, in explain mode, the skipped rules."""

    answer: dict[str, Any]
    explain: list[dict[str, str]] | None = None
    # For the backtest: every rule that fired (zero-point firings too), and the rules that
    # failed while evaluating.
    fired: list[str] = field(default_factory=list)
    errors: list[RuleError] = field(default_factory=list)


def event_facts(event: Any, streaks: dict[str, int] | None = None) -> EventFacts:
    return EventFacts(
        type=event.type.value,
        occurred_at=event.occurred_at,
        data=event.data.model_dump(),
        attributes=event.attributes,
        channel=event.channel,
        streaks=streaks or {},
    )


def customer_facts(
    state: CustomerState,
    occurred_at: datetime,
    streaks: dict[str, tuple[int, int]] | None = None,
) -> CustomerFacts:
    last = state.last_purchase_at
    return CustomerFacts(
        purchase_count=state.purchase_count,
        lifetime_spend=state.lifetime_spend,
        days_since_last_purchase=max((occurred_at - last).days, 0) if last else None,
        tier=state.tier,
        badges=frozenset(state.badges),
        available_points=state.available,
        signup_date=state.first_seen_at.date(),
        referral_count=state.referral_count,
        streaks=streaks or {},
    )


def _usage(judge: Judge, unit: UnitState, state: CustomerState, event: Any) -> LimitUsage:
    usage: dict[str, RuleUsage] = {}
    for rule in judge.ruleset.limited(event.type.value):
        limits = rule.limits
        assert limits is not None
        fired = 0
        if limits.per_customer is not None:
            key = period_key(limits.per_customer.period, event.occurred_at)
            fired = state.counters.get((rule.rule_id, key), 0)
        usage[rule.rule_id] = RuleUsage(fired, unit.budgets.get(rule.rule_id, 0))
    return LimitUsage(usage)


def _check(unit: UnitState, event: Any) -> OrderState | None:
    """Refuse what can never be applied; answers the order a refund refers to."""
    data = event.data
    if event.type is EventType.purchase and data.order_id in unit.orders:
        raise DuplicateOrder(
            f"Order {data.order_id!r} was already recorded by another purchase event.",
            extra={"order_id": data.order_id},
        )
    if event.type is EventType.referral and data.referred_customer_id in unit.referred:
        referred = data.referred_customer_id
        raise DuplicateReferral(
            f"Customer {referred!r} was already referred; a customer is referred once.",
            extra={"referred_customer_id": referred},
        )
    if event.type is not EventType.refund:
        return None
    order = unit.orders.get(data.order_id)
    if order is None or order.customer_id != event.customer_id:
        raise UnknownOrder(
            f"No purchase with order_id {data.order_id!r} for customer {event.customer_id!r}.",
            extra={"order_id": data.order_id},
        )
    refundable = order.amount - order.refunded_amount
    if data.amount > refundable:
        raise RefundTooLarge(
            f"Order {order.id!r} has {refundable} {order.currency} left to refund, "
            f"not {data.amount}.",
            extra={"order_id": order.id, "refundable": str(refundable)},
        )
    return order


def _aggregate(state: CustomerState, unit: UnitState, event: Any, credited: int) -> None:
    """The customer's counters, and the order or referral the event records."""
    data, at = event.data, event.occurred_at
    if event.type is EventType.purchase:
        unit.orders[data.order_id] = OrderState(
            id=data.order_id,
            customer_id=state.id,
            purchase_event_id=event.id,
            amount=data.amount,
            currency=data.currency,
            points_earned=credited,
            new=True,
        )
        state.purchase_count += 1
        state.lifetime_spend += data.amount
        if state.first_purchase_at is None or at < state.first_purchase_at:
            state.first_purchase_at = at
        if state.last_purchase_at is None or at > state.last_purchase_at:
            state.last_purchase_at = at
    elif event.type is EventType.referral:
        unit.referred.add(data.referred_customer_id)
        unit.referrals.append(
            {
                "referred_customer_id": data.referred_customer_id,
                "referrer_id": state.id,
                "event_id": event.id,
                "occurred_at": at,
            }
        )
        state.referral_count += 1


def reduce(judge: Judge, unit: UnitState, event: Any, *, explain: bool = False) -> Reduced:
    """Apply one validated event to ``unit``; raises a problem when it is refused."""
    order = _check(unit, event)
    state = unit.customer(event.customer_id, event.occurred_at)
    ruleset = judge.ruleset
    streaks_before, streaks_after = advance(unit, state, event) if unit.streaks else ({}, {})
    facts = event_facts(event, streaks_after)
    before = customer_facts(state, event.occurred_at, streaks_before)
    outcome = evaluate(
        ruleset.compiled,
        facts,
        before,
        _usage(judge, unit, state, event),
        explain=explain,
    )
    state.touched = True
    if event.occurred_at < state.first_seen_at:
        state.first_seen_at = event.occurred_at
    earned, reversed_ = state.points_earned, state.points_reversed
    step = EventStep(judge, unit, state, event)
    step.consume(outcome)
    step.effects = [effect_out(e) for e in outcome.effects]
    credited = sum(step.apply(effect) for effect in outcome.effects)
    if unit.challenges is not None:
        # After the rules, before the tier ladder: a completion's points count towards tiers
        # (and leaderboards), not towards the order's points a refund takes back.
        track(step, unit.challenges, facts, before)
    if ruleset.tiers is not None:
        promoted = tier_promotion(ruleset.tiers, state.tier, state.points_earned)
        # The ladder changes a tier exactly as a set_tier rule does, webhook included.
        if promoted is not None and step.set_tier(promoted, None, "tier ladder"):
            step.effects.append(effect_answer(None, "tier ladder", "set_tier", tier=promoted))
    _aggregate(state, unit, event, credited)
    if order is not None:
        step.refund(order)
    elif event.type is EventType.feedback and is_detractor(event.data.survey, event.data.score):
        step.emit(
            "feedback.detractor",
            {
                "customer_id": state.id,
                "event_id": event.id,
                "survey": event.data.survey,
                "score": event.data.score,
            },
        )
    if unit.boards:
        points = (state.points_earned - earned) - (state.points_reversed - reversed_)
        score(unit, state, event, points)
    answer = {
        "event_id": event.id,
        "customer_id": state.id,
        "type": event.type.value,
        "status": "processed",
        "ruleset_version": ruleset.version,
        "effects": step.effects,
        "balance": state.balance(),
        "explain": None,
    }
    skipped = None
    if explain:
        # Rule errors are already among the skipped rules, as "error: ...".
        skipped = [
            {"rule_id": s.rule_id, "rule_name": s.rule_name, "reason": s.reason}
            for s in outcome.skipped
        ]
    return Reduced(answer, skipped, outcome.fired, outcome.errors)
