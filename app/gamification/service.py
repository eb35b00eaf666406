"""Leaderboard definitions: created, read, renamed and deleted by the API."""

import secrets
from typing import Any

from sqlalchemy import select
from sqlalchemy import update as update_rows
from sqlalchemy.ext.asyncio import AsyncSession

from app.database import claim
from app.errors import Conflict, NotFound, Unprocessable
from app.gamification.schemas import (
    LeaderboardIn,
    LeaderboardOut,
    LeaderboardPatch,
    LeaderboardReward,
    RollingPeriod,
    closes_periods,
    period_out,
)
from app.models import Leaderboard, LeaderboardScore
from app.models.base import table_of, utcnow


class LeaderboardNotFound(NotFound):
    slug = "leaderboard-not-found"
    title = "No such leaderboard"


class LeaderboardIdTaken(Conflict):
    slug = "leaderboard-id-taken"
    title = "Leaderboard id already in use"


class RewardsNeedAnEnd(Unprocessable):
    slug = "leaderboard-period-never-ends"
    title = "Rewards need a period that ends"


def out(board: Leaderboard) -> LeaderboardOut:
    return LeaderboardOut(
        id=board.id,
        name=board.name,
        description=board.description,
        score=board.score,
        event_types=board.event_types,
        period=period_out(board.period, board.rolling_days),
        tier=board.tier,
        rewards=[LeaderboardReward.model_validate(r) for r in board.rewards],
        created_at=board.created_at,
        updated_at=board.updated_at,
    )


async def create(session: AsyncSession, body: LeaderboardIn) -> Leaderboard:
    board_id = body.id or f"lb-{secrets.token_hex(6)}"
    now = utcnow()
    rolling = body.period.rolling_days if isinstance(body.period, RollingPeriod) else None
    values: dict[str, Any] = {
        "id": board_id,
        "name": body.name,
        "description": body.description,
        "score": body.score,
        "event_types": sorted(t.value for t in body.event_types),
        "period": "rolling_days" if rolling is not None else body.period,
        "rolling_days": rolling,
        "tier": body.tier,
        "rewards": [r.model_dump() for r in body.rewards],
        "created_at": now,
        "updated_at": now,
    }
    if not await claim(session, table_of(Leaderboard), ("id",), values):
        raise LeaderboardIdTaken(
            f"A leaderboard with id {board_id!r} exists (possibly deleted); ids are never reused.",
            extra={"leaderboard_id": board_id},
        )
    return await get(session, board_id)


async def get(session: AsyncSession, board_id: str) -> Leaderboard:
    board = await session.get(Leaderboard, board_id)
    if board is None or board.deleted_at is not None:
        raise LeaderboardNotFound(
            f"Leaderboard {board_id!r} does not exist.", extra={"leaderboard_id": board_id}
        )
    return board


async def list_boards(session: AsyncSession) -> list[Leaderboard]:
    statement = select(Leaderboard).where(Leaderboard.deleted_at.is_(None)).order_by(Leaderboard.id)
    return list(await session.scalars(statement))


async def update(session: AsyncSession, board_id: str, patch: LeaderboardPatch) -> Leaderboard:
    board = await get(session, board_id)
    changes = patch.model_dump(include=patch.model_fields_set)
    if changes.get("rewards") and not closes_periods(board.period):
        raise RewardsNeedAnEnd(
            "Rewards go to a period's final standings; this leaderboard's period "
            f"({board.period}) never ends.",
            extra={"leaderboard_id": board_id},
        )
    if "name" in changes and changes["name"] is not None:
        board.name = changes["name"]
    if "description" in changes:
        board.description = changes["description"]
    if "rewards" in changes:
        board.rewards = changes["rewards"] or []
    board.updated_at = utcnow()
    await session.flush()
    return board


async def delete(session: AsyncSession, board_id: str) -> None:
    """Stop the board counting; its rows stay, and its id is never reused."""
    board = await get(session, board_id)
    board.deleted_at = utcnow()
    await session.flush()


async def set_hidden(session: AsyncSession, customer_id: str, hidden: bool) -> None:
    """List or hide the customer on every board (their ``leaderboard_opt_out``)."""
    await session.execute(
        update_rows(LeaderboardScore)
        .where(LeaderboardScore.customer_id == customer_id, LeaderboardScore.hidden != hidden)
        .values(hidden=hidden)
        .execution_options(synchronize_session=False)
    )
