"""Set-based reads behind the reports: one grouped query each, over covering indexes where
the table is large (events, ledger entries)."""

from sqlalchemy import case, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from app.metrics.periods import Period, Window, period_start, split
from app.models import Customer, Event, LedgerEntry, PointLot
from app.models.ledger import EntryKind
from app.reports.schemas import (
    EventDayCount,
    PointsWeek,
    RuleActivity,
    TierCount,
)


def _dialect(session: AsyncSession) -> str:
    return session.get_bind().dialect.name


async def events_per_day(session: AsyncSession, window: Window) -> list[EventDayCount]:
    split(window, Period.day)  # refuses a window of too many days, before reading
    day = period_start(Event.occurred_at, Period.day, _dialect(session)).label("day")
    statement = (
        select(day, Event.type, func.count().label("events"))
        .where(Event.occurred_at >= window.start, Event.occurred_at < window.end)
        .group_by(day, Event.type)
        .order_by(day, Event.type)
    )
    rows = (await session.execute(statement)).all()
    return [EventDayCount(day=str(r.day), type=r.type, events=int(r.events)) for r in rows]


async def points_per_week(session: AsyncSession, window: Window) -> list[PointsWeek]:
    split(window, Period.week)
    week = period_start(LedgerEntry.occurred_at, Period.week, _dialect(session)).label("week")

    issued = (LedgerEntry.kind == EntryKind.earn.value) | (
        (LedgerEntry.kind == EntryKind.adjust.value) & (LedgerEntry.points > 0)
    )
    redeemed = LedgerEntry.kind == EntryKind.redeem.value
    expired = LedgerEntry.kind == EntryKind.expire.value
    statement = (
        select(
            week,
            func.sum(case((issued, LedgerEntry.points), else_=0)).label("issued"),
            func.sum(case((redeemed, -LedgerEntry.points), else_=0)).label("redeemed"),
            func.sum(case((expired, -LedgerEntry.points), else_=0)).label("expired"),
        )
        .where(LedgerEntry.occurred_at >= window.start, LedgerEntry.occurred_at < window.end)
        .group_by(week)
        .order_by(week)
    )
    rows = (await session.execute(statement)).all()
    return [
        PointsWeek(
            week=str(r.week), issued=int(r.issued), redeemed=int(r.redeemed), expired=int(r.expired)
        )
        for r in rows
    ]


async def liability(session: AsyncSession) -> int:
    statement = select(func.coalesce(func.sum(PointLot.remaining), 0)).where(PointLot.remaining > 0)
    return int((await session.execute(statement)).scalar_one())


async def tiers(session: AsyncSession) -> list[TierCount]:
    count = func.count().label("customers")
    statement = (
        select(Customer.tier, count).group_by(Customer.tier).order_by(count.desc(), Customer.tier)
    )
    rows = (await session.execute(statement)).all()
    return [TierCount(tier=r.tier, customers=int(r.customers)) for r in rows]


async def rule_activity(session: AsyncSession, window: Window) -> list[RuleActivity]:
    points = func.sum(LedgerEntry.points).label("points")
    statement = (
        select(
            LedgerEntry.rule_id,
            func.count().label("firings"),
            points,
            func.count(func.distinct(LedgerEntry.customer_id)).label("customers"),
        )
        .where(
            LedgerEntry.rule_id.is_not(None),
            LedgerEntry.kind == EntryKind.earn.value,
            LedgerEntry.occurred_at >= window.start,
            LedgerEntry.occurred_at < window.end,
        )
        .group_by(LedgerEntry.rule_id)
        .order_by(points.desc(), LedgerEntry.rule_id)
    )
    rows = (await session.execute(statement)).all()
    return [
        RuleActivity(
            rule_id=str(r.rule_id),
            firings=int(r.firings),
            points=int(r.points or 0),
            customers=int(r.customers),
        )
        for r in rows
    ]
