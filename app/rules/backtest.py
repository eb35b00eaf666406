"""Replay stored events against a draft ruleset, writing nothing.

The replay runs the ingest pipeline's own reducer (``app.rules.state.reduce``) over each
customer's history in ``occurred_at`` order, in memory: events before the window build the
simulated state (aggregates, badges, tier, points, limit counters) but are not counted.
Draft limits and budgets start unused at the beginning of that history.
"""

from collections import defaultdict
from dataclasses import dataclass, field

from pydantic import TypeAdapter, ValidationError
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from app.errors import ProblemError
from app.events.schemas import AnyEvent, EventIn
from app.gamification.challenges import challenge_set
from app.ledger.policy import PointsPolicy
from app.models import Challenge, EntryKind, Event, LedgerEntry, Streak
from app.rules.active import ActiveRuleset
from app.rules.effects import Judge
from app.rules.schemas import BacktestIn, BacktestOut, BacktestRuleOut, TierLadder
from app.rules.state import reduce
from app.rules.streaks import definition
from app.rules.unit import UnitState

_event_adapter: TypeAdapter[AnyEvent] = TypeAdapter(EventIn)
DRAFT_VERSION = -1


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


def _forget_changes(unit: UnitState) -> None:
    # The replay writes nothing; dropping the change lists keeps its memory flat.
    unit.events.clear()
    unit.entries.clear()
    unit.lots.clear()
    unit.referrals.clear()
    unit.badges.clear()
    unit.perks.clear()
    unit.counters.clear()
    unit.messages.clear()
    unit.streaks_changed.clear()
    unit.progress_changed.clear()


async def run(session: AsyncSession, request: BacktestIn, policy: PointsPolicy) -> BacktestOut:
    drafts = [
        (rule.id or f"draft-{i + 1}", rule.document()) for i, rule in enumerate(request.rules)
    ]
    tiers: TierLadder | None = request.tiers if request.tiers and request.tiers.tiers else None
    judge = Judge(ActiveRuleset.build(DRAFT_VERSION, drafts, tiers), policy)
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
    replayed = counted = would_issue = 0
    customers: set[str] = set()
    unit = UnitState(now=start)
    if request.experiment is not None:
        unit.forced[request.experiment.id] = request.experiment.variant
    # The stored streaks and live challenges, so that draft rules read streaks as the
    # customers' history builds them, event by event, and the points that challenges'
    # completions would have given are counted as the live pipeline counts them.
    unit.streaks = tuple(
        definition(row)
        for row in await session.execute(
            select(Streak.id, Streak.event_types, Streak.period, Streak.grace).order_by(Streak.id)
        )
    )
    unit.challenges = challenge_set(
        list(
            await session.scalars(
                select(Challenge).where(Challenge.deleted_at.is_(None)).order_by(Challenge.id)
            )
        )
    )
    async for row in await session.stream_scalars(statement):
        event = _event(row)
        if event is None:
            continue
        replayed += 1
        # Points are dated as of the event, as they were when it was posted.
        unit.now = event.occurred_at
        try:
            recorded = (row.response or {}).get("referral") or {}
            reduced = reduce(judge, unit, event, referred=recorded.get("status") == "recorded")
        except ProblemError:  # refused in this replay's order of events
            continue
        finally:
            _forget_changes(unit)
        points_by_rule: dict[str, int] = defaultdict(int)
        for effect in reduced.answer["effects"]:
            if effect["rule_id"] is not None and effect["points"]:
                points_by_rule[effect["rule_id"]] += max(effect["points"], 0)
        if not start <= event.occurred_at < end:
            continue
        counted += 1
        customers.add(row.customer_id)
        would_issue += sum(points_by_rule.values())
        for rule_id in reduced.fired:
            stat = stats[rule_id]
            stat.events += 1
            stat.customers.add(row.customer_id)
            stat.points += points_by_rule[rule_id]
        for error in reduced.errors:
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
