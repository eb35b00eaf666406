"""Replay stored events against a draft ruleset, writing nothing.

Each customer's facts are rebuilt as of each event by replaying their history in
``occurred_at`` order: events before the window update the simulated state (aggregates,
badges, tier, points, limit counters) but are not counted. Draft limits and budgets start
unused at the beginning of that history.
"""

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal

from pydantic import TypeAdapter, ValidationError
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from app.events.schemas import AnyEvent, EventIn, PurchaseEvent, ReferralEvent, RefundEvent
from app.models import EntryKind, Event, LedgerEntry
from app.rules.engine import CompiledRuleset, compile_ruleset, evaluate, period_key
from app.rules.facts import CustomerFacts, EventFacts, LimitUsage, RuleUsage
from app.rules.schemas import BacktestIn, BacktestOut, BacktestRuleOut, TierLadder
from app.rules.service import tier_promotion

_event_adapter: TypeAdapter[AnyEvent] = TypeAdapter(EventIn)
DRAFT_VERSION = -1


@dataclass
class _Customer:
    first_seen: datetime | None = None
    purchase_count: int = 0
    lifetime_spend: Decimal = Decimal(0)
    last_purchase_at: datetime | None = None
    referral_count: int = 0
    tier: str | None = None
    badges: set[str] = field(default_factory=set)
    points: int = 0
    counters: dict[tuple[str, str], int] = field(default_factory=dict)

    def facts(self, at: datetime) -> CustomerFacts:
        last = self.last_purchase_at
        return CustomerFacts(
            purchase_count=self.purchase_count,
            lifetime_spend=self.lifetime_spend,
            days_since_last_purchase=max((at - last).days, 0) if last else None,
            tier=self.tier,
            badges=frozenset(self.badges),
            available_points=self.points,
            signup_date=self.first_seen.date() if self.first_seen else None,
            referral_count=self.referral_count,
        )


@dataclass
class _RuleStats:
    name: str
    events: int = 0
    customers: set[str] = field(default_factory=set)
    points: int = 0
    errors: int = 0


def _event(row: Event) -> AnyEvent | None:
    try:
        return _event_adapter.validate_python(
            {
                "id": row.id,
                "type": row.type,
                "customer_id": row.customer_id,
                "occurred_at": row.occurred_at,
                "channel": row.channel,
                "data": row.data,
                "attributes": row.attributes,
            }
        )
    except ValidationError:  # stored before a schema change; it cannot be judged again
        return None


def _usage(
    ruleset: CompiledRuleset, state: _Customer, budgets: dict[str, int], event: AnyEvent
) -> LimitUsage:
    usage: dict[str, RuleUsage] = {}
    for rule in ruleset.rules_for(event.type.value):
        limits = rule.limits
        if limits is None:
            continue
        fired = 0
        if limits.per_customer is not None:
            key = period_key(limits.per_customer.period, event.occurred_at)
            fired = state.counters.get((rule.rule_id, key), 0)
        usage[rule.rule_id] = RuleUsage(fired, budgets.get(rule.rule_id, 0))
    return LimitUsage(usage)


def _aggregate(state: _Customer, event: AnyEvent) -> None:
    if isinstance(event, PurchaseEvent):
        state.purchase_count += 1
        state.lifetime_spend += event.data.amount
        if state.last_purchase_at is None or event.occurred_at > state.last_purchase_at:
            state.last_purchase_at = event.occurred_at
    elif isinstance(event, RefundEvent):
        state.lifetime_spend -= event.data.amount
    elif isinstance(event, ReferralEvent):
        state.referral_count += 1


async def run(session: AsyncSession, request: BacktestIn) -> BacktestOut:
    drafts = [
        (rule.id or f"draft-{i + 1}", rule.document()) for i, rule in enumerate(request.rules)
    ]
    ruleset = compile_ruleset(DRAFT_VERSION, drafts)
    tiers: TierLadder | None = request.tiers if request.tiers and request.tiers.tiers else None
    start, end = request.from_, request.to

    in_window = (Event.occurred_at >= start) & (Event.occurred_at < end)
    window_customers = select(Event.customer_id).where(in_window).distinct()
    statement = (
        select(Event)
        .where(Event.customer_id.in_(window_customers), Event.occurred_at < end)
        .order_by(Event.customer_id, Event.occurred_at, Event.received_at, Event.id)
        .execution_options(yield_per=500)
    )
    stats = {rule_id: _RuleStats(doc.name) for rule_id, doc in drafts}
    budgets: dict[str, int] = defaultdict(int)
    states: dict[str, _Customer] = {}
    replayed = counted = would_issue = 0
    customers: set[str] = set()
    async for row in await session.stream_scalars(statement):
        event = _event(row)
        if event is None:
            continue
        replayed += 1
        state = states.setdefault(row.customer_id, _Customer())
        if state.first_seen is None or event.occurred_at < state.first_seen:
            state.first_seen = event.occurred_at
        outcome = evaluate(
            ruleset,
            EventFacts(
                type=event.type.value,
                occurred_at=event.occurred_at,
                data=event.data.model_dump(),
                attributes=event.attributes,
                channel=event.channel,
            ),
            state.facts(event.occurred_at),
            _usage(ruleset, state, budgets, event),
        )
        points_by_rule: dict[str, int] = defaultdict(int)
        for effect in outcome.effects:
            if effect.action in ("award_points", "multiply_points") and effect.points:
                points_by_rule[effect.rule_id] += max(effect.points, 0)
            elif effect.action == "award_badge" and effect.badge:
                state.badges.add(effect.badge)
            elif effect.action == "set_tier" and effect.tier:
                state.tier = effect.tier
        for rule_id in outcome.fired:
            limits = ruleset.rule(rule_id).limits
            if limits is not None and limits.per_customer is not None:
                key = (rule_id, period_key(limits.per_customer.period, event.occurred_at))
                state.counters[key] = state.counters.get(key, 0) + 1
            if limits is not None and limits.budget_points is not None:
                budgets[rule_id] += points_by_rule[rule_id]
        earned = sum(points_by_rule.values())
        state.points += earned
        if tiers is not None:
            promoted = tier_promotion(tiers, state.tier, state.points)
            if promoted is not None:
                state.tier = promoted
        _aggregate(state, event)
        if not start <= event.occurred_at < end:
            continue
        counted += 1
        customers.add(row.customer_id)
        would_issue += earned
        for rule_id in outcome.fired:
            stat = stats[rule_id]
            stat.events += 1
            stat.customers.add(row.customer_id)
            stat.points += points_by_rule[rule_id]
        for error in outcome.errors:
            stats[error.rule_id].errors += 1

    actual = await session.scalar(
        select(func.coalesce(func.sum(LedgerEntry.points), 0)).where(
            LedgerEntry.kind == EntryKind.earn.value,
            LedgerEntry.event_id.in_(select(Event.id).where(in_window)),
        )
    )
    actually_issued = int(actual or 0)
    return BacktestOut(
        from_=start,
        to=end,
        events_replayed=replayed,
        events_in_window=counted,
        customers=len(customers),
        rules=[
            BacktestRuleOut(
                rule_id=rule_id,
                rule_name=stat.name,
                events_fired=stat.events,
                customers_affected=len(stat.customers),
                points=stat.points,
                errors=stat.errors,
            )
            for rule_id, stat in stats.items()
        ],
        points_would_issue=would_issue,
        points_actually_issued=actually_issued,
        difference=would_issue - actually_issued,
    )


__all__ = ["DRAFT_VERSION", "run"]
