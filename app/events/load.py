"""The pipeline's reads: a unit's stored events and state, in a few set-based statements.

Every read takes the unit's keys at once (``IN`` over expanding parameters, built once).
On PostgreSQL the customers' rows, then the budgets' rows, are locked in sorted order, so
that two workers whose units share customers queue instead of deadlocking; everything a
customer's events change is then read under that customer's lock. SQLite's write
transaction (``BEGIN IMMEDIATE``) already serialises writers.
"""

import uuid
from collections.abc import Iterable, Sequence
from dataclasses import fields
from datetime import datetime
from typing import Any, TypeVar

from sqlalchemy import BindParameter, Select, and_, bindparam, case, func, or_, select
from sqlalchemy.dialects import postgresql
from sqlalchemy.ext.asyncio import AsyncConnection

from app.customers.facts import DEFAULT_FREQUENCY_DAYS
from app.events import targeting
from app.events.types import EventType
from app.gamification.challenges import challenge_set
from app.models import (
    Challenge,
    ChallengeProgress,
    Customer,
    CustomerBadge,
    CustomerPerk,
    CustomerStreak,
    Event,
    Leaderboard,
    Order,
    PointLot,
    Referral,
    ReferralCode,
    Reward,
    RewardCode,
    RuleBudget,
    RuleLimitCounter,
    Streak,
    WebhookSubscription,
)
from app.models.base import in_list, table_of
from app.rules import referrals
from app.rules.active import ActiveRuleset
from app.rules.limits import period_key
from app.rules.streaks import definition
from app.rules.unit import (
    Board,
    CustomerState,
    Lot,
    OrderState,
    Perk,
    Progress,
    RewardState,
    UnitState,
)

T = TypeVar("T")


CUSTOMERS = table_of(Customer)
EVENTS = table_of(Event)
LOTS = table_of(PointLot)
ORDERS = table_of(Order)


_STORED = select(EVENTS.c.id, EVENTS.c.body_hash, EVENTS.c.response).where(
    in_list(EVENTS.c.id, "ids")
)
_CUSTOMERS = select(CUSTOMERS).where(in_list(CUSTOMERS.c.id, "ids")).order_by(CUSTOMERS.c.id)
_CUSTOMERS_LOCKED = _CUSTOMERS.with_for_update()


def _balance_statement() -> Select[Any]:
    now: BindParameter[datetime] = bindparam("now")
    alive = and_(LOTS.c.remaining != 0, or_(LOTS.c.expires_at.is_(None), LOTS.c.expires_at > now))

    def total(when: Any) -> Any:
        return func.coalesce(func.sum(case((when, LOTS.c.remaining), else_=0)), 0)

    # As app.ledger.service.balance reads it: lots past their expiry that the expiry job has
    # not processed yet count as expired already.
    return (
        select(
            LOTS.c.customer_id,
            total(and_(alive, LOTS.c.available_at <= now)),
            total(and_(alive, LOTS.c.available_at > now)),
            total(LOTS.c.expires_at <= now),
        )
        .where(in_list(LOTS.c.customer_id, "ids"), LOTS.c.remaining != 0)
        .group_by(LOTS.c.customer_id)
    )


_BALANCES = _balance_statement()
_OPEN_LOTS = (
    select(LOTS)
    .where(
        in_list(LOTS.c.customer_id, "ids"),
        LOTS.c.remaining > 0,
        or_(LOTS.c.expires_at.is_(None), LOTS.c.expires_at > bindparam("now")),
    )
    .order_by(LOTS.c.id)
)
_BADGES = select(CustomerBadge.customer_id, CustomerBadge.badge).where(
    in_list(CustomerBadge.customer_id, "ids")
)
_PERKS = select(table_of(CustomerPerk)).where(in_list(CustomerPerk.customer_id, "ids"))
_COUNTERS = select(
    RuleLimitCounter.rule_id,
    RuleLimitCounter.customer_id,
    RuleLimitCounter.period_key,
    RuleLimitCounter.count,
).where(
    in_list(RuleLimitCounter.customer_id, "ids"),
    in_list(RuleLimitCounter.rule_id, "rules"),
    in_list(RuleLimitCounter.period_key, "keys"),
)
_BUDGETS = select(RuleBudget.rule_id, RuleBudget.issued).where(in_list(RuleBudget.rule_id, "ids"))
_BUDGETS_LOCKED = _BUDGETS.order_by(RuleBudget.rule_id).with_for_update()
_BUDGET_ROWS = postgresql.insert(table_of(RuleBudget)).on_conflict_do_nothing(
    index_elements=["rule_id"]
)
_ORDERS = select(ORDERS).where(in_list(ORDERS.c.id, "ids"))
_REFERRED = select(Referral.referred_customer_id).where(
    in_list(Referral.referred_customer_id, "ids")
)
_REFERRAL_CODES = select(ReferralCode.code, ReferralCode.customer_id).where(
    in_list(ReferralCode.code, "codes")
)
_REFERRALS_MADE = select(Referral.referrer_id, Referral.occurred_at).where(
    in_list(Referral.referrer_id, "ids")
)
_BOARDS = select(
    Leaderboard.id,
    Leaderboard.score,
    Leaderboard.event_types,
    Leaderboard.period,
    Leaderboard.tier,
).where(Leaderboard.deleted_at.is_(None))
_STREAKS = select(Streak.id, Streak.event_types, Streak.period, Streak.grace).order_by(Streak.id)
_CUSTOMER_STREAKS = select(
    CustomerStreak.streak_id, CustomerStreak.customer_id, CustomerStreak.periods
).where(in_list(CustomerStreak.customer_id, "ids"))
_CHALLENGES = (
    select(
        Challenge.id,
        Challenge.name,
        Challenge.event_types,
        Challenge.condition,
        Challenge.goal,
        Challenge.window,
        Challenge.actions,
        Challenge.repeat,
        Challenge.updated_at,
    )
    .where(Challenge.deleted_at.is_(None))
    .order_by(Challenge.id)
)
_PROGRESS = select(table_of(ChallengeProgress)).where(in_list(ChallengeProgress.customer_id, "ids"))
_SUBSCRIPTIONS = select(WebhookSubscription.id, WebhookSubscription.event_types).where(
    WebhookSubscription.enabled.is_(True)
)

REWARDS = table_of(Reward)
_REWARDS = (
    select(REWARDS)
    .where(in_list(REWARDS.c.id, "ids"), REWARDS.c.deleted_at.is_(None))
    .order_by(REWARDS.c.id)
)
_REWARDS_LOCKED = _REWARDS.with_for_update()
_FREE_CODES = (
    select(RewardCode.code)
    .where(RewardCode.reward_id == bindparam("reward_id"), RewardCode.taken_at.is_(None))
    .order_by(RewardCode.imported_at, RewardCode.code)
    .limit(bindparam("n"))
    .with_for_update(skip_locked=True)
)
Subscriptions = list[tuple[uuid.UUID, list[str]]]


async def stored_events(conn: AsyncConnection, ids: Sequence[str]) -> dict[str, tuple[str, Any]]:
    """Events of the unit already stored: id -> (body hash, stored answer)."""
    rows = await conn.execute(_STORED, {"ids": list(ids)})
    return {row.id: (row.body_hash, row.response) for row in rows}


async def subscriptions(conn: AsyncConnection) -> Subscriptions:
    """Enabled webhook subscriptions, read once per unit."""
    return [(row.id, list(row.event_types)) for row in await conn.execute(_SUBSCRIPTIONS)]


def _state(kind: type[T], row: Any, **extra: Any) -> T:
    """A state dataclass from a row: the fields the row has a column for, and ``extra``."""
    mapping = row._mapping
    names = [f.name for f in fields(kind) if f.name in mapping]  # type: ignore[arg-type]
    return kind(**{name: mapping[name] for name in names}, **extra)


async def _limits(
    conn: AsyncConnection, unit: UnitState, ruleset: ActiveRuleset, events: Iterable[Any]
) -> None:
    rules: set[str] = set()
    keys: set[str] = set()
    for event in events:
        for rule in ruleset.limited(event.type.value):
            per_customer = rule.limits.per_customer if rule.limits else None
            if per_customer is not None:
                rules.add(rule.rule_id)
                keys.add(period_key(per_customer.period, event.occurred_at))
    existing = [c.id for c in unit.customers.values() if c.exists]
    if rules and existing:
        parameters = {"ids": existing, "rules": sorted(rules), "keys": sorted(keys)}
        for row in await conn.execute(_COUNTERS, parameters):
            counters = unit.customers[row.customer_id].counters
            counters[(row.rule_id, row.period_key)] = row[3]


async def _budgets(conn: AsyncConnection, unit: UnitState, budgeted: list[str]) -> None:
    if not budgeted:
        return
    statement = _BUDGETS
    if conn.dialect.name == "postgresql":
        # The rows must exist to be locked; a rule's first firing creates its row.
        await conn.execute(
            _BUDGET_ROWS,
            [{"rule_id": rule_id, "issued": 0} for rule_id in budgeted],
        )
        statement = _BUDGETS_LOCKED
    for row in await conn.execute(statement, {"ids": budgeted}):
        unit.budgets[row.rule_id] = row.issued


async def _rewards(conn: AsyncConnection, unit: UnitState, ids: list[str], events: int) -> None:
    """The rewards issue_coupon rules may hand out, locked after the budgets on PostgreSQL
    (claims through the API lock the customer, then the reward, in the same order); a
    pooled reward's next free codes, as many as the unit's events could take."""
    if not ids:
        return
    statement = _REWARDS_LOCKED if conn.dialect.name == "postgresql" else _REWARDS
    for row in await conn.execute(statement, {"ids": ids}):
        reward = _state(RewardState, row)
        if reward.pooled:
            found = await conn.execute(_FREE_CODES, {"reward_id": reward.id, "n": events})
            reward.codes = list(found.scalars())
        unit.rewards[reward.id] = reward


async def state(
    conn: AsyncConnection,
    ruleset: ActiveRuleset,
    events: Sequence[Any],
    now: datetime,
    frequency_days: int = DEFAULT_FREQUENCY_DAYS,
) -> UnitState:
    """What the unit's events read, for the customers they name; new customers are made
    in memory and written only if one of their events is accepted."""
    unit = UnitState(now=now)
    unit.boards = tuple(
        Board(row.id, row.score, frozenset(row.event_types), row.period, row.tier)
        for row in await conn.execute(_BOARDS)
    )
    unit.streaks = tuple(definition(row) for row in await conn.execute(_STREAKS))
    unit.challenges = challenge_set(list(await conn.execute(_CHALLENGES)))
    # Referral codes first: their referrers are customers of the unit too, locked with
    # the others. A code never changes hands, so reading it unlocked is safe.
    codes = sorted({code for event in events if (code := referrals.code_of(event))})
    if codes:
        for code, owner in await conn.execute(_REFERRAL_CODES, {"codes": codes}):
            unit.referral_codes[code] = owner
    referrers = sorted(set(unit.referral_codes.values()))
    ids = sorted({event.customer_id for event in events} | set(referrers))
    statement = _CUSTOMERS_LOCKED if conn.dialect.name == "postgresql" else _CUSTOMERS
    for row in await conn.execute(statement, {"ids": ids}):
        unit.customers[row.id] = _state(CustomerState, row, exists=True)
    existing = list(unit.customers)
    if existing:
        for row in await conn.execute(_BALANCES, {"ids": existing, "now": now}):
            customer = unit.customers[row[0]]
            customer.available, customer.pending = int(row[1]), int(row[2])
            customer.overdue = int(row[3])
        if ruleset.reads_badges:
            for row in await conn.execute(_BADGES, {"ids": existing}):
                unit.customers[row.customer_id].badges.add(row.badge)
        if unit.streaks:
            for row in await conn.execute(_CUSTOMER_STREAKS, {"ids": existing}):
                unit.customers[row.customer_id].streaks[row.streak_id] = row.periods
        if unit.challenges is not None:
            for row in await conn.execute(_PROGRESS, {"ids": existing}):
                progress = _state(Progress, row)
                unit.customers[row.customer_id].challenges[row.challenge_id] = progress
        if ruleset.grants_perks:
            for row in await conn.execute(_PERKS, {"ids": existing}):
                unit.customers[row.customer_id].perks[row.perk] = Perk(
                    row.customer_id,
                    row.perk,
                    row.granted_at,
                    row.expires_at,
                    row.event_id,
                    row.rule_id,
                )
        if ruleset.targeting or ruleset.reads_segments:
            await targeting.facts_and_segments(conn, unit, ruleset, existing, frequency_days)
        refunding = sorted(
            {e.customer_id for e in events if e.type is EventType.refund} & set(existing)
        )
        if refunding:
            for row in await conn.execute(_OPEN_LOTS, {"ids": refunding, "now": now}):
                unit.customers[row.customer_id].lots.append(_state(Lot, row))
    await targeting.experiments(conn, unit, existing, frequency_days)
    # The referral events the codes may derive fire the referrers' rules: their limits and
    # budgets are read as the posted events' are.
    derived = [
        referrals.derived_event(event, referrer)
        for event in events
        if (referrer := unit.referral_codes.get(referrals.code_of(event) or "")) is not None
        and referrer != event.customer_id
    ]
    judged = [*events, *derived]
    await _limits(conn, unit, ruleset, judged)
    types = {e.type.value for e in judged}
    await _budgets(conn, unit, ruleset.budgeted(types))
    await _rewards(conn, unit, ruleset.rewards_issued(types), len(judged))
    order_ids = sorted(
        {e.data.order_id for e in events if e.type in (EventType.purchase, EventType.refund)}
    )
    if order_ids:
        for row in await conn.execute(_ORDERS, {"ids": order_ids}):
            unit.orders[row.id] = _state(OrderState, row)
    referred = sorted(
        {e.data.referred_customer_id for e in events if e.type is EventType.referral}
        | {e.customer_id for e in events if referrals.code_of(e) in unit.referral_codes}
    )
    if referred:
        unit.referred.update(row[0] for row in await conn.execute(_REFERRED, {"ids": referred}))
    if referrers:
        for made in await conn.execute(_REFERRALS_MADE, {"ids": referrers}):
            unit.referral_times.setdefault(made.referrer_id, []).append(made.occurred_at)
    return unit
