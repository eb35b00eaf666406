"""Streak definitions, and a customer's streaks as of now."""

from datetime import datetime

from sqlalchemy import delete, select
from sqlalchemy.ext.asyncio import AsyncSession

from app.database import claim
from app.errors import NotFound
from app.models import CustomerStreak, Streak
from app.models.base import table_of, utcnow
from app.rules.streak_schemas import CustomerStreakOut, StreakIn, StreakOut
from app.rules.streaks import best, current, period_number


class StreakNotFound(NotFound):
    slug = "streak-not-found"
    title = "No such streak"


def out(streak: Streak) -> StreakOut:
    return StreakOut.model_validate(streak, from_attributes=True)


async def put(session: AsyncSession, streak_id: str, body: StreakIn) -> tuple[Streak, bool]:
    """Create or replace the definition; answers it and whether it was created. A new
    period starts every customer's streak afresh (their periods were counted in the old
    one); new event types or grace apply to the periods already counted."""
    now = utcnow()
    event_types = sorted(t.value for t in body.event_types)
    values = {
        "id": streak_id,
        "event_types": event_types,
        "period": body.period,
        "grace": body.grace,
        "created_at": now,
        "updated_at": now,
    }
    if await claim(session, table_of(Streak), ("id",), values):
        return await get(session, streak_id), True
    streak = await get(session, streak_id, lock=True)
    if streak.period != body.period:
        await session.execute(delete(CustomerStreak).where(CustomerStreak.streak_id == streak_id))
    changed = (streak.event_types, streak.period, streak.grace) != (
        event_types,
        body.period,
        body.grace,
    )
    if changed:
        streak.event_types = event_types
        streak.period, streak.grace, streak.updated_at = body.period, body.grace, now
        await session.flush()
    return streak, False


async def get(session: AsyncSession, streak_id: str, *, lock: bool = False) -> Streak:
    statement = select(Streak).where(Streak.id == streak_id)
    if lock:
        statement = statement.with_for_update().execution_options(populate_existing=True)
    streak = await session.scalar(statement)
    if streak is None:
        raise StreakNotFound(
            f"Streak {streak_id!r} does not exist.", extra={"streak_id": streak_id}
        )
    return streak


async def list_streaks(session: AsyncSession) -> list[Streak]:
    return list(await session.scalars(select(Streak).order_by(Streak.id)))


async def delete_streak(session: AsyncSession, streak_id: str) -> None:
    await get(session, streak_id, lock=True)
    await session.execute(delete(CustomerStreak).where(CustomerStreak.streak_id == streak_id))
    await session.execute(delete(Streak).where(Streak.id == streak_id))


async def customer_streaks(
    session: AsyncSession, customer_id: str, now: datetime
) -> list[CustomerStreakOut]:
    """Every defined streak for the customer, as of ``now`` (0 and 0 when they have none)."""
    rows = await session.execute(
        select(Streak, CustomerStreak.periods)
        .outerjoin(
            CustomerStreak,
            (CustomerStreak.streak_id == Streak.id) & (CustomerStreak.customer_id == customer_id),
        )
        .order_by(Streak.id)
    )
    found = []
    for streak, periods in rows:
        runs = periods or []
        found.append(
            CustomerStreakOut(
                streak_id=streak.id,
                period=streak.period,
                current=current(runs, streak.grace, period_number(streak.period, now)),
                best=best(runs, streak.grace),
            )
        )
    return found
