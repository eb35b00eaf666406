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
from app.experiments.assignment import variant_for
from app.gamification.challenges import track
from app.gamification.scoring import score
from app.rules import referrals
from app.rules.effects import EventStep, Judge, effect_answer, effect_out
from app.rules.engine import RuleError, evaluate
from app.rules.facts import CustomerFacts, EventFacts, LimitUsage, RuleUsage
from app.rules.limits import period_key
from app.rules.streaks import advance
from app.rules.tiers import tier_promotion
from app.rules.treatments import record, scoping
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
    # Events the event gave rise to (the referrer's referral), each already applied, for
    # the pipeline to store beside it.
    derived: list[tuple[Any, "Reduced"]] = field(default_factory=list)


def event_facts(
    event: Any, streaks: dict[str, int] | None = None, *, referred: bool = False
) -> EventFacts:
    return EventFacts(
        type=event.type.value,
        occurred_at=event.occurred_at,
        data=event.data.model_dump(),
        attributes=event.attributes,
        channel=event.channel,
        referred=referred,
        streaks=streaks or {},
    )


def customer_facts(
    state: CustomerState,
    occurred_at: datetime,
    streaks: dict[str, tuple[int, int]] | None = None,
) -> CustomerFacts:
    last = state.last_purchase_at
    count = state.purchase_count
    return CustomerFacts(
        purchase_count=state.purchase_count,
        lifetime_spend=state.lifetime_spend,
        days_since_last_purchase=max((occurred_at - last).days, 0) if last else None,
        tier=state.tier,
        badges=frozenset(state.badges),
        available_points=state.available,
        signup_date=state.first_seen_at.date(),
        referral_count=state.referral_count,
        recency_days=max((occurred_at - last).days, 0) if last else None,
        frequency=state.frequency,
        monetary=state.lifetime_spend / count if count else None,
        rfm_score=state.rfm_score,
        probability_alive=state.probability_alive,
        predicted_clv=state.predicted_clv,
        last_nps=state.last_nps,
        last_csat=state.last_csat,
        segments=state.segments,
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
        state.frequency += 1
        state.lifetime_spend += data.amount
        if state.first_purchase_at is None or at < state.first_purchase_at:
            state.first_purchase_at = at
        if state.last_purchase_at is None or at > state.last_purchase_at:
            state.last_purchase_at = at
    elif event.type is EventType.referral:
        unit.referred.add(data.referred_customer_id)
        unit.referral_times.setdefault(state.id, []).append(at)
        unit.referrals.append(
            {
                "referred_customer_id": data.referred_customer_id,
                "referrer_id": state.id,
                "event_id": event.id,
                "occurred_at": at,
            }
        )
        state.referral_count += 1
    elif event.type is EventType.feedback:
        if data.survey == "nps":
            state.last_nps = data.score
        else:
            state.last_csat = data.score


def _expose(unit: UnitState, state: CustomerState, event: Any) -> None:
    """The customer's first event after an experiment's start exposes them, once, in the
    variant the hash assigns (if they are in its audience)."""
    for experiment in unit.experiments:
        key = (experiment.id, state.id)
        if event.occurred_at < experiment.started_at or key in unit.exposed:
            continue
        if experiment.segment_id is not None and experiment.segment_id not in unit.audiences.get(
            state.id, frozenset()
        ):
            continue
        variant = variant_for(experiment.salt, state.id, experiment.variants)
        unit.exposed[key] = variant
        unit.would_have[key] = {}
        unit.exposures.append(
            {
                "experiment_id": experiment.id,
                "customer_id": state.id,
                "variant": variant,
                "exposed_at": event.occurred_at,
                "event_id": event.id,
                "would_have": unit.would_have[key],
            }
        )


def _referral(
    judge: Judge, unit: UnitState, event: Any
) -> tuple[dict[str, Any] | None, list[tuple[Any, Reduced]]]:
    """A referral code's outcome for the answer, and the referrer's derived event."""
    code = referrals.code_of(event)
    if code is None:
        return None, []
    found = referrals.guard(unit, judge.policy, event, code)
    if not isinstance(found, str):
        return found, []
    source = referrals.derived_event(event, found)
    applied = reduce(judge, unit, source)
    recorded = referrals.outcome("recorded", None, referrer_id=found, event_id=source.id)
    return recorded, [(source, applied), *applied.derived]


def reduce(
    judge: Judge,
    unit: UnitState,
    event: Any,
    *,
    explain: bool = False,
    referred: bool | None = None,
) -> Reduced:
    """Apply one validated event to ``unit``; raises a problem when it is refused.

    ``referred`` replays a stored event as it was judged (the backtest): whether it recorded
    a referral then, with no code resolved now (the derived referral is replayed itself)."""
    order = _check(unit, event)
    referral, derived = (None, []) if referred is not None else _referral(judge, unit, event)
    if referred is None:
        referred = referral is not None and referral["status"] == "recorded"
    state = unit.customer(event.customer_id, event.occurred_at)
    ruleset = judge.ruleset
    # Exposed first: the exposing event already gets the customer's variant's treatment.
    if unit.experiments:
        _expose(unit, state, event)
    streaks_before, streaks_after = advance(unit, state, event) if unit.streaks else ({}, {})
    facts = event_facts(event, streaks_after, referred=referred)
    before = customer_facts(state, event.occurred_at, streaks_before)
    usage = _usage(judge, unit, state, event)
    excluded, alternatives = scoping(ruleset, unit, state.id, event.type.value)
    outcome = evaluate(ruleset.compiled, facts, before, usage, explain=explain, excluded=excluded)
    would_have = []
    for key, rules in alternatives.items():
        alternative = evaluate(ruleset.compiled, facts, before, usage, excluded=excluded - rules)
        gained = record(unit, state.id, key, alternative, rules)
        if gained is not None:
            would_have.append(gained)
    state.touched = True
    if event.occurred_at < state.first_seen_at:
        state.first_seen_at = event.occurred_at
    earned, reversed_ = state.points_earned, state.points_reversed
    step = EventStep(judge, unit, state, event)
    step.consume(outcome)
    step.effects = [effect_out(e) for e in outcome.effects]
    credited = sum(
        step.apply(effect, out) for effect, out in zip(outcome.effects, step.effects, strict=True)
    )
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
        "would_have": would_have or None,
    }
    if referral is not None:
        answer["referral"] = referral
    skipped = None
    if explain:
        # Rule errors are already among the skipped rules, as "error: ...".
        skipped = [
            {"rule_id": s.rule_id, "rule_name": s.rule_name, "reason": s.reason}
            for s in outcome.skipped
        ]
    return Reduced(answer, skipped, outcome.fired, outcome.errors, derived)
