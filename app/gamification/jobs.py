"""Closing ended periods, run by ``reinforce leaderboards close`` or periodically inside
``reinforce serve``: each ended period's final standings are recorded and rewarded once.

Exactly once: a period is claimed by ``UPDATE ... SET closed_at WHERE closed_at IS NULL``
in the transaction that awards its badges, so a second run (or a concurrent one, which
waits on the row's lock and then finds it closed) rewards nothing. One transaction per
period: a crash loses one uncommitted period, which the next run closes.
"""

import asyncio
import logging
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from app.database import Database, claim
from app.gamification import standings
from app.gamification.periods import PeriodKind, bounds
from app.models import CustomerBadge, Leaderboard, LeaderboardPeriod
from app.models.base import table_of, utcnow
from app.webhooks import outbox

logger = logging.getLogger(__name__)

# Read a closing period's standings this many entries at a time.
_PAGE = 500


@dataclass
class Closed:
    leaderboard_id: str
    period: str
    awarded: list[tuple[str, str]] = field(default_factory=list)


async def _final(
    session: AsyncSession, source: standings.Source, last_rank: int
) -> list[standings.Ranked]:
    """The standings down to ``last_rank`` (ties at it included)."""
    ranked: list[standings.Ranked] = []
    cursor = None
    while True:
        page, cursor = await standings.page(session, source, cursor, _PAGE)
        for entry in page:
            if entry.rank > last_rank:
                return ranked
            ranked.append(entry)
        if cursor is None:
            return ranked


async def _award(
    session: AsyncSession, board: Leaderboard, period: str, final: list[standings.Ranked]
) -> list[tuple[str, str]]:
    awarded = []
    now = utcnow()
    for reward in board.rewards:
        for entry in final:
            if entry.rank > reward["top"]:
                break
            customer_id, badge = entry.row.customer_id, reward["badge"]
            values = {"customer_id": customer_id, "badge": badge, "awarded_at": now}
            # A badge the customer holds already stays as it is (badges are held once).
            if await claim(session, table_of(CustomerBadge), ("customer_id", "badge"), values):
                awarded.append((customer_id, badge))
                await outbox.emit(
                    session,
                    outbox.WebhookEventType.badge_awarded,
                    {
                        "customer_id": customer_id,
                        "event_id": None,
                        "rule_id": None,
                        "badge": badge,
                        "leaderboard_id": board.id,
                        "period": period,
                        "rank": entry.rank,
                    },
                )
    return awarded


async def _close(session: AsyncSession, board_id: str, period: str, now: datetime) -> Closed | None:
    claimed = await session.execute(
        update(LeaderboardPeriod)
        .where(
            LeaderboardPeriod.leaderboard_id == board_id,
            LeaderboardPeriod.period_key == period,
            LeaderboardPeriod.closed_at.is_(None),
        )
        .values(closed_at=now)
        .returning(LeaderboardPeriod.period_key)
        .execution_options(synchronize_session=False)
    )
    if claimed.first() is None:
        return None
    board = await session.get(Leaderboard, board_id)
    assert board is not None
    starts_at, ends_at = bounds(PeriodKind(board.period), period)
    source = standings.Source(board, standings.Period(period, starts_at, ends_at))
    last_rank = max((r["top"] for r in board.rewards), default=0)
    final = await _final(session, source, last_rank) if last_rank else []
    awarded = await _award(session, board, period, final)
    results: dict[str, Any] = {
        "entries": [
            {"rank": e.rank, "customer_id": e.row.customer_id, "score": str(e.row.score)}
            for e in final
        ],
        "awarded": [{"customer_id": c, "badge": b} for c, b in awarded],
    }
    await session.execute(
        update(LeaderboardPeriod)
        .where(LeaderboardPeriod.leaderboard_id == board_id, LeaderboardPeriod.period_key == period)
        .values(results=results)
        .execution_options(synchronize_session=False)
    )
    return Closed(board_id, period, awarded)


async def close_due(database: Database, now: datetime | None = None) -> list[Closed]:
    """Close every period that ended by ``now`` on a live board; answers what it closed."""
    now = now or utcnow()
    async with database.read_sessionmaker() as session:
        due = (
            await session.execute(
                select(LeaderboardPeriod.leaderboard_id, LeaderboardPeriod.period_key)
                .join(Leaderboard, Leaderboard.id == LeaderboardPeriod.leaderboard_id)
                .where(
                    LeaderboardPeriod.closed_at.is_(None),
                    LeaderboardPeriod.ends_at <= now,
                    Leaderboard.deleted_at.is_(None),
                )
                .order_by(LeaderboardPeriod.ends_at, LeaderboardPeriod.leaderboard_id)
            )
        ).all()
    closed = []
    for board_id, period in due:
        async with database.sessionmaker() as session, session.begin():
            done = await _close(session, board_id, period, now)
        if done is not None:
            closed.append(done)
    return closed


async def run_periodically(database: Database, interval_seconds: int) -> None:
    while True:
        try:
            for done in await close_due(database):
                logger.info(
                    "closed a leaderboard period",
                    extra={"leaderboard_id": done.leaderboard_id, "period": done.period},
                )
        except Exception:  # a failed run is retried at the next tick, never fatal
            logger.exception("closing leaderboard periods failed")
        await asyncio.sleep(interval_seconds)
