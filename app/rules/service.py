"""Stored rules: versions, the active ruleset every worker agrees on, and limit consumption.

A global ruleset version is bumped by every change (rule created, edited, deleted, tier
ladder replaced). Each version records the ``(rule id, rule version)`` pairs and the tier
ladder in force, so an event's ``ruleset_version`` always says which documents judged it.
"""

import logging
from collections import OrderedDict
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from functools import cache
from typing import Any

from sqlalchemy import bindparam, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from app.database import insert_for
from app.errors import Conflict, NotFound
from app.models import (
    Rule,
    RuleBudget,
    RuleLimitCounter,
    RulesetHead,
    RulesetVersion,
    RuleVersion,
)
from app.models.base import utcnow
from app.rules.engine import (
    CompiledRule,
    CompiledRuleset,
    Effect,
    Outcome,
    compile_ruleset,
    period_key,
    settle_without,
    tier_for_points,
)
from app.rules.facts import LimitUsage, RuleUsage
from app.rules.schemas import (
    AllCondition,
    AnyCondition,
    Comparison,
    Condition,
    Period,
    RuleDocument,
    TierLadder,
)

logger = logging.getLogger(__name__)

DEFAULT_RULE_ID = "default-points-per-unit"
# Until a shop stores rules of its own, purchases earn one point per whole currency unit
# and nothing else earns anything. Version 0 marks events judged by this default.
DEFAULT_DOCUMENT = RuleDocument.model_validate(
    {
        "name": "1 point per currency unit",
        "description": "The default until rules are stored.",
        "types": ["purchase"],
        "actions": [{"type": "award_points", "per_unit": 1}],
    }
)
DEFAULT_RULESET: CompiledRuleset = compile_ruleset(0, [(DEFAULT_RULE_ID, DEFAULT_DOCUMENT)])


class RuleNotFound(NotFound):
    slug = "rule-not-found"
    title = "No such rule"


class RuleIdTaken(Conflict):
    slug = "rule-id-taken"
    title = "Rule id already in use"


class RuleDeleted(Conflict):
    slug = "rule-deleted"
    title = "Rule deleted"


class RulesetVersionNotFound(NotFound):
    slug = "ruleset-version-not-found"
    title = "No such ruleset version"


@dataclass(frozen=True, slots=True)
class ActiveRuleset:
    """A ruleset version ready to judge events: compiled rules and the tier ladder."""

    version: int
    compiled: CompiledRuleset
    tiers: TierLadder | None
    # The fact paths the conditions read, so that ingestion skips the queries behind the
    # facts no rule looks at (badges and the available balance each cost a read).
    facts: frozenset[str] = frozenset()


def _condition_facts(condition: Condition | None) -> set[str]:
    if condition is None:
        return set()
    if isinstance(condition, Comparison):
        return {condition.fact}
    if isinstance(condition, AllCondition):
        return set().union(*(_condition_facts(c) for c in condition.all))
    if isinstance(condition, AnyCondition):
        return set().union(*(_condition_facts(c) for c in condition.any))
    return _condition_facts(condition.not_)


def facts_read(documents: Iterable[RuleDocument]) -> frozenset[str]:
    """Every fact path the documents' conditions compare."""
    return frozenset().union(*(_condition_facts(d.conditions) for d in documents))


DEFAULT_ACTIVE = ActiveRuleset(0, DEFAULT_RULESET, None, facts_read([DEFAULT_DOCUMENT]))


# --------------------------------------------------------------------------- reading


# Read by every event: built once.
_CURRENT_VERSION = select(RulesetHead.version).where(RulesetHead.id == 1)


async def current_version(session: AsyncSession) -> int:
    version = await session.scalar(_CURRENT_VERSION)
    return version or 0


@dataclass(frozen=True, slots=True)
class VersionContent:
    version: int
    created_at: datetime | None
    change: str
    rules: list[tuple[str, int, RuleDocument]]
    tiers: TierLadder | None


async def version_content(session: AsyncSession, version: int) -> VersionContent:
    """The rules and tier ladder in force at ``version``; version 0 is the default."""
    if version == 0:
        return VersionContent(
            0, None, "default ruleset", [(DEFAULT_RULE_ID, 0, DEFAULT_DOCUMENT)], None
        )
    row = await session.get(RulesetVersion, version)
    if row is None:
        raise RulesetVersionNotFound(f"Ruleset version {version} does not exist.")
    pairs = [(str(rule_id), int(v)) for rule_id, v in row.rules]
    documents: dict[tuple[str, int], dict[str, Any]] = {}
    if pairs:
        result = await session.execute(
            select(RuleVersion.rule_id, RuleVersion.version, RuleVersion.document).where(
                RuleVersion.rule_id.in_([p[0] for p in pairs])
            )
        )
        documents = {(r.rule_id, r.version): r.document for r in result}
    rules = [
        (rule_id, v, RuleDocument.model_validate(documents[(rule_id, v)])) for rule_id, v in pairs
    ]
    tiers = TierLadder.model_validate(row.tiers) if row.tiers is not None else None
    return VersionContent(row.version, row.created_at, row.change, rules, tiers)


# Compiled rulesets per (database, version). A version's content never changes, so a cached
# entry can never be stale; the per-event read of the head decides which entry applies.
_CACHE_SIZE = 16
_cache: OrderedDict[tuple[str, int], ActiveRuleset] = OrderedDict()


def _database_key(session: AsyncSession) -> str:
    return session.get_bind().engine.url.render_as_string(hide_password=True)


async def active_ruleset(session: AsyncSession) -> ActiveRuleset:
    """The ruleset that judges an event now: one primary-key read, then the process cache."""
    version = await current_version(session)
    if version == 0:
        return DEFAULT_ACTIVE
    key = (_database_key(session), version)
    cached = _cache.get(key)
    if cached is not None:
        _cache.move_to_end(key)
        return cached
    content = await version_content(session, version)
    active = ActiveRuleset(
        version,
        compile_ruleset(version, [(rule_id, doc) for rule_id, _, doc in content.rules]),
        content.tiers,
        facts_read(doc for _, _, doc in content.rules),
    )
    _cache[key] = active
    while len(_cache) > _CACHE_SIZE:
        _cache.popitem(last=False)
    return active


async def get_rule(session: AsyncSession, rule_id: str) -> Rule:
    rule = await session.get(Rule, rule_id)
    if rule is None:
        raise RuleNotFound(f"Rule {rule_id!r} does not exist.", extra={"rule_id": rule_id})
    return rule


async def list_rules(session: AsyncSession, *, include_deleted: bool) -> list[Rule]:
    statement = select(Rule).order_by(Rule.id)
    if not include_deleted:
        statement = statement.where(Rule.deleted_at.is_(None))
    return list(await session.scalars(statement))


async def rule_versions(session: AsyncSession, rule_id: str) -> list[RuleVersion]:
    result = await session.scalars(
        select(RuleVersion).where(RuleVersion.rule_id == rule_id).order_by(RuleVersion.version)
    )
    return list(result)


async def current_document(session: AsyncSession, rule: Rule) -> RuleVersion:
    row = await session.get(RuleVersion, (rule.id, rule.current_version))
    assert row is not None
    return row


# --------------------------------------------------------------------------- writing


async def _bump(session: AsyncSession) -> tuple[int, TierLadder | None]:
    """Take the next ruleset version; the head's row lock queues concurrent rule writers."""
    version = (
        await session.execute(
            update(RulesetHead)
            .where(RulesetHead.id == 1)
            .values(version=RulesetHead.version + 1)
            .returning(RulesetHead.version)
        )
    ).scalar_one()
    previous = await session.get(RulesetVersion, version - 1) if version > 1 else None
    tiers = TierLadder.model_validate(previous.tiers) if previous and previous.tiers else None
    return version, tiers


async def _record_version(
    session: AsyncSession, version: int, change: str, tiers: TierLadder | None
) -> None:
    await session.flush()
    live = await session.execute(
        select(Rule.id, Rule.current_version).where(Rule.deleted_at.is_(None)).order_by(Rule.id)
    )
    session.add(
        RulesetVersion(
            version=version,
            created_at=utcnow(),
            change=change[:200],
            rules=[[r.id, r.current_version] for r in live],
            tiers=tiers.model_dump(mode="json") if tiers is not None else None,
        )
    )
    await session.flush()


def _stored(document: RuleDocument) -> dict[str, Any]:
    return document.model_dump(mode="json", by_alias=True, exclude_none=True)


async def create_rule(session: AsyncSession, rule_id: str, document: RuleDocument) -> Rule:
    version, tiers = await _bump(session)
    insert = insert_for(session)
    now = utcnow()
    claimed = (
        await session.execute(
            insert(Rule)
            .values(id=rule_id, current_version=1, created_at=now, updated_at=now)
            .on_conflict_do_nothing(index_elements=["id"])
            .returning(Rule.id)
        )
    ).first()
    if claimed is None:
        raise RuleIdTaken(
            f"A rule with id {rule_id!r} exists (possibly deleted); ids are never reused.",
            extra={"rule_id": rule_id},
        )
    await _record_version(session, version, f"create {rule_id}", tiers)
    session.add(
        RuleVersion(
            rule_id=rule_id,
            version=1,
            document=_stored(document),
            ruleset_version=version,
            created_at=now,
        )
    )
    await session.flush()
    return await get_rule(session, rule_id)


async def replace_rule(session: AsyncSession, rule_id: str, document: RuleDocument) -> Rule:
    """Store ``document`` as the rule's next version; an identical document changes nothing."""
    rule = await get_rule(session, rule_id)
    if rule.deleted_at is not None:
        raise RuleDeleted(f"Rule {rule_id!r} was deleted.", extra={"rule_id": rule_id})
    current = await current_document(session, rule)
    if current.document == _stored(document):
        return rule
    version, tiers = await _bump(session)
    # Re-read under the head's lock: another writer may have changed the rule meanwhile.
    await session.refresh(rule)
    if rule.deleted_at is not None:
        raise RuleDeleted(f"Rule {rule_id!r} was deleted.", extra={"rule_id": rule_id})
    rule.current_version += 1
    rule.updated_at = utcnow()
    await _record_version(session, version, f"update {rule_id} to v{rule.current_version}", tiers)
    session.add(
        RuleVersion(
            rule_id=rule_id,
            version=rule.current_version,
            document=_stored(document),
            ruleset_version=version,
            created_at=rule.updated_at,
        )
    )
    await session.flush()
    return rule


async def delete_rule(session: AsyncSession, rule_id: str) -> None:
    rule = await get_rule(session, rule_id)
    if rule.deleted_at is not None:
        return
    version, tiers = await _bump(session)
    await session.refresh(rule)
    if rule.deleted_at is not None:
        return
    rule.deleted_at = utcnow()
    rule.updated_at = rule.deleted_at
    await _record_version(session, version, f"delete {rule_id}", tiers)


async def current_tiers(session: AsyncSession) -> tuple[int, TierLadder | None]:
    version = await current_version(session)
    row = await session.get(RulesetVersion, version) if version else None
    tiers = TierLadder.model_validate(row.tiers) if row is not None and row.tiers else None
    return version, tiers


async def replace_tiers(session: AsyncSession, ladder: TierLadder) -> int:
    """Store a new tier ladder (an empty one removes tiers); answers the ruleset version."""
    version, current = await current_tiers(session)
    new = ladder if ladder.tiers else None
    if current == new:
        return version
    version, _ = await _bump(session)
    await _record_version(session, version, "tier ladder", new)
    return version


# --------------------------------------------------------------------------- limits


def _limited(ruleset: CompiledRuleset, event_type: str) -> list[tuple[str, Period | None, bool]]:
    """(rule id, period of its per-customer limit, has a budget) for the limited rules."""
    out: list[tuple[str, Period | None, bool]] = []
    for rule in ruleset.rules_for(event_type):
        limits = rule.limits
        if limits is None:
            continue
        period = limits.per_customer.period if limits.per_customer is not None else None
        if period is not None or limits.budget_points is not None:
            out.append((rule.rule_id, period, limits.budget_points is not None))
    return out


# Read (and taken) on every event a limited rule could fire for: built once.
_LIMIT_COUNTS = select(
    RuleLimitCounter.rule_id, RuleLimitCounter.period_key, RuleLimitCounter.count
).where(
    RuleLimitCounter.customer_id == bindparam("customer_id"),
    RuleLimitCounter.rule_id.in_(bindparam("rule_ids", expanding=True)),
)


@cache
def _take_count_statement(insert: Any) -> Any:
    # The table, not the mapped class: the ORM's bulk-insert path costs more than the upsert.
    counters = RuleLimitCounter.__table__
    return (
        insert(counters)
        .on_conflict_do_update(
            index_elements=["rule_id", "customer_id", "period_key"],
            set_={"count": counters.c.count + 1},
            where=counters.c.count < bindparam("limit"),
        )
        .returning(counters.c.count)
    )


async def limit_usage(
    session: AsyncSession,
    ruleset: CompiledRuleset,
    event_type: str,
    customer_id: str,
    occurred_at: datetime,
) -> LimitUsage:
    """Current usage of the limits of the rules an event could fire, read before evaluating
    so that explain can say which limit was reached."""
    limited = _limited(ruleset, event_type)
    if not limited:
        return LimitUsage({})
    counts: dict[str, int] = {}
    keys = {rule_id: period_key(period, occurred_at) for rule_id, period, _ in limited if period}
    if keys:
        result = await session.execute(
            _LIMIT_COUNTS, {"customer_id": customer_id, "rule_ids": list(keys)}
        )
        counts = {
            row.rule_id: int(row[2]) for row in result if keys.get(row.rule_id) == row.period_key
        }
    issued: dict[str, int] = {}
    budgeted = [rule_id for rule_id, _, has_budget in limited if has_budget]
    if budgeted:
        result = await session.execute(
            select(RuleBudget.rule_id, RuleBudget.issued).where(RuleBudget.rule_id.in_(budgeted))
        )
        issued = {r.rule_id: r.issued for r in result}
    return LimitUsage(
        {
            rule_id: RuleUsage(
                fired_in_period=counts.get(rule_id, 0), points_issued=issued.get(rule_id, 0)
            )
            for rule_id, _, _ in limited
        }
    )


@dataclass(frozen=True, slots=True)
class Dropped:
    """A rule whose limit was used up by a concurrent event between reading and consuming."""

    rule_id: str
    rule_name: str
    reason: str


async def _take_count(
    session: AsyncSession, rule_id: str, customer_id: str, key: str, limit: int
) -> bool:
    values = {"rule_id": rule_id, "customer_id": customer_id, "period_key": key, "count": 1}
    statement = _take_count_statement(insert_for(session))
    return (await session.execute(statement, {**values, "limit": limit})).first() is not None


async def _give_back_count(session: AsyncSession, rule_id: str, customer_id: str, key: str) -> None:
    await session.execute(
        update(RuleLimitCounter)
        .where(
            RuleLimitCounter.rule_id == rule_id,
            RuleLimitCounter.customer_id == customer_id,
            RuleLimitCounter.period_key == key,
        )
        .values(count=RuleLimitCounter.count - 1)
    )


async def _take_budget(session: AsyncSession, rule_id: str, points: int, budget: int) -> bool:
    if points > budget:
        return False
    if points <= 0:
        return True
    insert = insert_for(session)
    statement = insert(RuleBudget).values(rule_id=rule_id, issued=points)
    statement = statement.on_conflict_do_update(
        index_elements=["rule_id"],
        set_={"issued": RuleBudget.issued + points},
        where=RuleBudget.issued + points <= budget,
    ).returning(RuleBudget.issued)
    return (await session.execute(statement)).first() is not None


async def _give_back_budget(session: AsyncSession, rule_id: str, points: int) -> None:
    await session.execute(
        update(RuleBudget)
        .where(RuleBudget.rule_id == rule_id)
        .values(issued=RuleBudget.issued - points)
    )


def _points_of(effects: list[Effect], rule_id: str) -> int:
    return sum(e.points or 0 for e in effects if e.rule_id == rule_id)


async def consume_limits(
    session: AsyncSession,
    ruleset: CompiledRuleset,
    outcome: Outcome,
    customer_id: str,
    occurred_at: datetime,
) -> tuple[list[Effect], list[Dropped]]:
    """Consume the limits of the rules that fired, atomically in the database.

    Answers the effects to apply: those of a rule whose consumption lost a race (its count or
    budget was used up by a concurrent event after usage was read) are dropped and reported.

    A multiplier's extra points are a share of every award of the event, so once a rule is
    dropped the multipliers are settled again on the awards that remain, and the budget a
    multiplier rule already took is trued up to its new points (given back, or taken, and the
    rule dropped if that fails). Rules without a multiplier go first, so that multiplier rules
    mostly take their budget once, on final figures. Both orders are fixed per rule, which
    keeps concurrent events locking limit rows in the same order.
    """
    dropped: list[Dropped] = []
    lost: set[str] = set()
    effects = outcome.effects
    counted: dict[str, str] = {}  # rule id -> period key whose count it took
    taken: dict[str, int] = {}  # rule id -> budget points it took

    async def drop(rule: CompiledRule, reason: str) -> None:
        nonlocal effects
        rule_id = rule.rule_id
        if rule_id in counted:
            await _give_back_count(session, rule_id, customer_id, counted.pop(rule_id))
        if taken.get(rule_id):
            await _give_back_budget(session, rule_id, taken[rule_id])
        taken.pop(rule_id, None)
        lost.add(rule_id)
        dropped.append(Dropped(rule_id, rule.name, reason))
        effects = settle_without(outcome, lost)

    for rule_id in sorted(outcome.fired, key=lambda r: ruleset.rule(r).has_multiplier):
        rule = ruleset.rule(rule_id)
        limits = rule.limits
        if limits is None:
            continue
        if limits.per_customer is not None:
            key = period_key(limits.per_customer.period, occurred_at)
            if not await _take_count(session, rule_id, customer_id, key, limits.per_customer.count):
                await drop(rule, rule.limit_reason)
                continue
            counted[rule_id] = key
        if limits.budget_points is not None:
            points = _points_of(effects, rule_id)
            if await _take_budget(session, rule_id, points, limits.budget_points):
                taken[rule_id] = points
            else:
                await drop(rule, "budget exhausted")

    settled = False
    while not settled:
        settled = True
        for rule_id in list(taken):
            rule = ruleset.rule(rule_id)
            budget = rule.budget_points
            assert budget is not None
            took, now = taken[rule_id], _points_of(effects, rule_id)
            if now < took:
                await _give_back_budget(session, rule_id, took - now)
                taken[rule_id] = now
            elif now > took:
                if not await _take_budget(session, rule_id, now - took, budget):
                    await drop(rule, "budget exhausted")
                    settled = False  # another drop: settle and true up again
                    break
                taken[rule_id] = now

    for item in dropped:
        logger.info(
            "rule limit lost to a concurrent event",
            extra={"rule_id": item.rule_id, "reason": item.reason},
        )
    return effects, dropped


# --------------------------------------------------------------------------- tiers


def tier_promotion(ladder: TierLadder, current: str | None, lifetime_points: int) -> str | None:
    """The ladder tier to move a customer to, or None to leave them where they are.

    Tiers only go up: lifetime earned points never decrease, and a refund or expiry does not
    demote. A tier that is not on the ladder (given by a set_tier rule) is left alone.
    """
    reached = tier_for_points(ladder, lifetime_points)
    if reached is None:
        return None
    names = [step.tier for step in ladder.tiers]
    if current is None:
        return reached
    if current not in names:
        return None
    return reached if names.index(reached) > names.index(current) else None
