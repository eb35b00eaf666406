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
from app.ledger.policy import PointsPolicy, proportional
from app.rules.engine import Effect, Outcome, RuleError, evaluate
from app.rules.facts import CustomerFacts, EventFacts, LimitUsage, RuleUsage
from app.rules.limits import period_key
from app.rules.ruleset import ActiveRuleset
from app.rules.tiers import tier_promotion
from app.rules.unit import CustomerState, Entry, Lot, Message, OrderState, Perk, UnitState, iso
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


@dataclass(frozen=True, slots=True)
class Judge:
    """What stays fixed for a unit: the ruleset that judges it, the points policy, and
    which webhook types anyone subscribes to (no message is built for others)."""

    ruleset: ActiveRuleset
    policy: PointsPolicy
    wanted: frozenset[str] = frozenset()


@dataclass(slots=True)
class Reduced:
    """An accepted event: its answer (as stored) and, in explain mode, the skipped rules."""

    answer: dict[str, Any]
    explain: list[dict[str, str]] | None = None
    # For the backtest: every rule that fired (zero-point firings too), and the rules that
    # failed while evaluating.
    fired: list[str] = field(default_factory=list)
    errors: list[RuleError] = field(default_factory=list)


def event_facts(event: Any) -> EventFacts:
    return EventFacts(
        type=event.type.value,
        occurred_at=event.occurred_at,
        data=event.data.model_dump(),
        attributes=event.attributes,
        channel=event.channel,
    )


def customer_facts(state: CustomerState, occurred_at: datetime) -> CustomerFacts:
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


class _Event:
    """One event's transition: the effects it writes, in the unit it writes them to."""

    def __init__(self, judge: Judge, unit: UnitState, state: CustomerState, event: Any) -> None:
        self.judge, self.unit, self.state, self.event = judge, unit, state, event
        self.effects: list[dict[str, Any]] = []

    def emit(self, type_: str, data: dict[str, Any], entry: Entry | None = None) -> None:
        if type_ in self.judge.wanted:
            self.unit.messages.append(Message(type_, data, entry))

    def _ids(self, rule_id: str | None) -> dict[str, Any]:
        return {"customer_id": self.state.id, "event_id": self.event.id, "rule_id": rule_id}

    def entry(self, kind: str, points: int, reason: str, rule_id: str | None) -> Entry:
        entry = Entry(
            customer_id=self.state.id,
            kind=kind,
            points=points,
            event_id=self.event.id,
            rule_id=rule_id,
            reason=reason[:500],
            created_at=self.unit.now,
        )
        self.unit.entries.append(entry)
        data = {**self._ids(rule_id), "entry_id": None, "points": points, "reference": None}
        self.emit(f"points.{_PAST[kind]}", data, entry)
        return entry

    def credit(self, points: int, reason: str, rule_id: str | None) -> None:
        available_at, expires_at = self.judge.policy.lot_dates(self.event)
        entry = self.entry("earn", points, reason, rule_id)
        lot = Lot(
            id=None,
            customer_id=self.state.id,
            event_id=self.event.id,
            order_id=getattr(self.event.data, "order_id", None),
            points=points,
            remaining=points,
            available_at=available_at,
            expires_at=expires_at,
            created_at=self.unit.now,
            entry=entry,
        )
        self.unit.lots.append(lot)
        self.state.lots.append(lot)
        self.state.points_earned += points
        now = self.unit.now
        if expires_at is None or expires_at > now:
            if available_at <= now:
                self.state.available += points
            else:
                self.state.pending += points

    def set_tier(self, tier: str, rule_id: str | None, rule_name: str | None) -> bool:
        previous = self.state.tier
        if previous == tier:
            return False
        self.state.tier, self.state.tier_changed_at = tier, self.unit.now
        self.emit("tier.changed", {**self._ids(rule_id), "tier": tier, "previous": previous})
        return True

    def grant_perk(self, effect: Effect) -> None:
        """Grant a perk, or extend it: a later expiry (or none) wins over an earlier one."""
        assert effect.perk is not None
        now, expires_at = self.unit.now, effect.perk_expires_at
        perk = self.state.perks.get(effect.perk)
        if perk is None:
            perk = Perk(self.state.id, effect.perk, now, expires_at, self.event.id, effect.rule_id)
            self.state.perks[effect.perk] = perk
        else:
            lapsed = perk.expires_at is not None and perk.expires_at <= now
            if lapsed:
                perk.granted_at = now
            if (
                lapsed
                or expires_at is None
                or (perk.expires_at is not None and expires_at > perk.expires_at)
            ):
                perk.expires_at = expires_at
            perk.event_id, perk.rule_id = self.event.id, effect.rule_id
        self.unit.perks[(self.state.id, effect.perk)] = perk
        self.emit(
            "perk.granted",
            {**self._ids(effect.rule_id), "perk": effect.perk, "expires_at": iso(expires_at)},
        )

    def apply(self, effect: Effect) -> int:
        """Write one rule effect; answers the points it credited."""
        action = effect.action
        if action in ("award_points", "multiply_points"):
            if effect.points and effect.points > 0:
                reason = f"{effect.rule_name} ({self.event.type.value} {self.event.id})"
                self.credit(effect.points, reason, effect.rule_id)
                return effect.points
        elif action == "award_badge" and effect.badge:
            if effect.badge not in self.state.badges:
                self.state.badges.add(effect.badge)
                self.unit.badges.append(
                    {
                        "customer_id": self.state.id,
                        "badge": effect.badge,
                        "awarded_at": self.unit.now,
                        "event_id": self.event.id,
                        "rule_id": effect.rule_id,
                    }
                )
                self.emit("badge.awarded", {**self._ids(effect.rule_id), "badge": effect.badge})
        elif action == "set_tier" and effect.tier:
            self.set_tier(effect.tier, effect.rule_id, effect.rule_name)
        elif action == "grant_perk" and effect.perk:
            self.grant_perk(effect)
        elif action == "notify":
            self.emit(
                "notification.requested",
                {
                    **self._ids(effect.rule_id),
                    "notification": effect.notification,
                    "template": effect.template,
                },
            )
        return 0

    def consume(self, outcome: Outcome) -> None:
        """Count the firings against their limits. The state was read under the customers'
        locks (and the budgets' rows), so what ``evaluate`` allowed is what is taken."""
        ruleset = self.judge.ruleset.compiled
        for rule_id in outcome.fired:
            limits = ruleset.rule(rule_id).limits
            if limits is None:
                continue
            if limits.per_customer is not None:
                key = period_key(limits.per_customer.period, self.event.occurred_at)
                counters = self.state.counters
                counters[(rule_id, key)] = counters.get((rule_id, key), 0) + 1
                self.unit.counters.add((rule_id, self.state.id, key))
            if limits.budget_points is not None:
                points = sum(e.points or 0 for e in outcome.effects if e.rule_id == rule_id)
                self.unit.budgets[rule_id] = self.unit.budgets.get(rule_id, 0) + points
                self.unit.budgets_used.add(rule_id)

    def refund(self, order: OrderState) -> None:
        data, state = self.event.data, self.state
        order.refunded_amount += data.amount
        order.dirty = True
        state.lifetime_spend -= data.amount
        # Cumulative, so that several partial refunds never take back more than was earned.
        due = proportional(order.points_earned, order.refunded_amount, order.amount)
        to_claw = due - order.points_reversed - order.points_shortfall
        reversed_, shortfall = self.claw_back(to_claw, order.id)
        order.points_reversed += reversed_
        order.points_shortfall += shortfall
        self.effects.append(
            effect_answer(
                None, None, "reverse_points", points=-reversed_, shortfall=shortfall or None
            )
        )

    def claw_back(self, points: int, order_id: str) -> tuple[int, int]:
        """Take back ``points`` for a refund: the order's own lots first, then other pending
        points, then available ones by earliest expiry. What the lots cannot cover is a debt
        (a negative lot) when negative balances are allowed, or else a shortfall."""
        if points <= 0:
            return 0, 0
        now, state = self.unit.now, self.state
        open_lots = [
            lot
            for lot in state.lots
            if lot.remaining > 0 and (lot.expires_at is None or lot.expires_at > now)
        ]
        open_lots.sort(
            key=lambda lot: (
                lot.order_id != order_id,
                lot.available_at <= now,
                lot.expires_at is None,
                lot.expires_at or now,
                lot.id if lot.id is not None else 2**63,
            )
        )
        taken = 0
        for lot in open_lots:
            if taken == points:
                break
            step = min(lot.remaining, points - taken)
            lot.remaining -= step
            lot.dirty = True
            taken += step
            if lot.available_at <= now:
                state.available -= step
            else:
                state.pending -= step
        missing = points - taken
        allow_negative = self.judge.policy.allow_negative
        debt = missing if allow_negative else 0
        total = taken + debt
        if total == 0:
            return 0, missing
        reason = f"refund of order {order_id}"
        if missing and not allow_negative:
            reason += f" ({missing} points already spent, not reclaimed)"
        entry = self.entry("reverse", -total, reason, None)
        state.points_reversed += total
        if debt:
            lot = Lot(
                id=None,
                customer_id=state.id,
                event_id=self.event.id,
                order_id=order_id,
                points=-debt,
                remaining=-debt,
                available_at=now,
                expires_at=None,
                created_at=now,
                entry=entry,
            )
            self.unit.lots.append(lot)
            state.lots.append(lot)
            state.available -= debt
        return total, missing - debt


_PAST = {"earn": "earned", "reverse": "reversed"}


def effect_answer(
    rule_id: str | None, rule_name: str | None, action: str, **values: Any
) -> dict[str, Any]:
    """An effect as ``EffectOut`` serialises it (every field, nulls included)."""
    return {
        "rule_id": rule_id,
        "rule_name": rule_name,
        "action": action,
        "points": values.get("points"),
        "badge": values.get("badge"),
        "tier": values.get("tier"),
        "perk": values.get("perk"),
        "perk_expires_at": iso(values.get("perk_expires_at")),
        "notification": values.get("notification"),
        "template": values.get("template"),
        "shortfall": values.get("shortfall"),
    }


def _effect_out(effect: Effect) -> dict[str, Any]:
    return effect_answer(
        effect.rule_id,
        effect.rule_name,
        effect.action,
        points=effect.points,
        badge=effect.badge,
        tier=effect.tier,
        perk=effect.perk,
        perk_expires_at=effect.perk_expires_at,
        notification=effect.notification,
        template=effect.template,
    )


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
    outcome = evaluate(
        ruleset.compiled,
        event_facts(event),
        customer_facts(state, event.occurred_at),
        _usage(judge, unit, state, event),
        explain=explain,
    )
    state.touched = True
    if event.occurred_at < state.first_seen_at:
        state.first_seen_at = event.occurred_at
    step = _Event(judge, unit, state, event)
    step.consume(outcome)
    step.effects = [_effect_out(e) for e in outcome.effects]
    credited = sum(step.apply(effect) for effect in outcome.effects)
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
