"""Challenge definitions, and a customer's progress in them as of now."""

import secrets
from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from app.database import claim
from app.errors import Conflict, NotFound
from app.gamification.challenge_schemas import (
    ChallengeIn,
    ChallengeOut,
    ChallengePatch,
    ChallengeProgressOut,
    FixedWindow,
    SumGoal,
)
from app.gamification.challenges import body_of
from app.models import Challenge, ChallengeProgress
from app.models.base import table_of, utcnow


class ChallengeNotFound(NotFound):
    slug = "challenge-not-found"
    title = "No such challenge"


class ChallengeIdTaken(Conflict):
    slug = "challenge-id-taken"
    title = "Challenge id already in use"


def out(challenge: Challenge) -> ChallengeOut:
    body = body_of(challenge)
    return ChallengeOut(
        id=challenge.id,
        name=challenge.name,
        description=challenge.description,
        event_types=body.event_types,
        condition=challenge.condition,
        goal=body.goal,
        window=body.window,
        actions=challenge.actions,
        repeat=body.repeat,
        created_at=challenge.created_at,
        updated_at=challenge.updated_at,
    )


async def create(session: AsyncSession, body: ChallengeIn) -> Challenge:
    challenge_id = body.id or f"ch-{secrets.token_hex(6)}"
    now = utcnow()
    dumped = body.model_dump(mode="json", by_alias=True, exclude_none=True)
    values: dict[str, Any] = {
        "id": challenge_id,
        "name": body.name,
        "description": body.description,
        "event_types": [t.value for t in body.event_types],
        "condition": dumped.get("condition"),
        "goal": dumped["goal"],
        "window": dumped["window"],
        "actions": dumped["actions"],
        "repeat": body.repeat,
        "created_at": now,
        "updated_at": now,
    }
    if not await claim(session, table_of(Challenge), ("id",), values):
        raise ChallengeIdTaken(
            f"A challenge with id {challenge_id!r} exists (possibly deleted); ids are never "
            "reused.",
            extra={"challenge_id": challenge_id},
        )
    return await get(session, challenge_id)


async def get(session: AsyncSession, challenge_id: str) -> Challenge:
    challenge = await session.get(Challenge, challenge_id)
    if challenge is None or challenge.deleted_at is not None:
        raise ChallengeNotFound(
            f"Challenge {challenge_id!r} does not exist.", extra={"challenge_id": challenge_id}
        )
    return challenge


async def list_challenges(session: AsyncSession) -> list[Challenge]:
    statement = select(Challenge).where(Challenge.deleted_at.is_(None)).order_by(Challenge.id)
    return list(await session.scalars(statement))


async def update(session: AsyncSession, challenge_id: str, patch: ChallengePatch) -> Challenge:
    challenge = await get(session, challenge_id)
    if patch.name is not None:
        challenge.name = patch.name
    if "description" in patch.model_fields_set:
        challenge.description = patch.description
    challenge.updated_at = utcnow()
    await session.flush()
    return challenge


async def delete(session: AsyncSession, challenge_id: str) -> None:
    """Stop the challenge counting; progress rows stay, and the id is never reused."""
    challenge = await get(session, challenge_id)
    challenge.deleted_at = utcnow()
    await session.flush()


def _number(value: Decimal) -> str:
    text = f"{value.normalize():f}"
    return text


def _progress(
    challenge: Challenge, row: ChallengeProgress | None, now: datetime
) -> ChallengeProgressOut:
    body = body_of(challenge)
    goal, window = body.goal, body.window
    target = goal.target if isinstance(goal, SumGoal) else Decimal(goal.count)
    value = Decimal(0)
    window_start = deadline = None
    status = "not_started"
    if isinstance(window, FixedWindow):
        # One window for everyone: its progress stays readable once it has closed.
        window_start, deadline = window.from_, window.until
        status = "upcoming" if now < window.from_ else "ended" if now >= window.until else status
        if row is not None:
            value = row.progress
            if row.window_completed:
                status = "completed"
            elif status == "not_started":
                status = "in_progress"
    elif row is not None:
        if row.window_completed and (now < row.deadline or body.repeat == "once"):
            status, value = "completed", row.progress
            window_start, deadline = row.window_start, row.deadline
        elif now < row.deadline:
            status, value = "in_progress", row.progress
            window_start, deadline = row.window_start, row.deadline
    return ChallengeProgressOut(
        challenge_id=challenge.id,
        name=challenge.name,
        description=challenge.description,
        progress=f"{_number(min(value, target))}/{_number(target)}",
        value=value,
        target=target,
        status=status,
        window_start=window_start,
        deadline=deadline,
        completions=row.completions if row else 0,
        completed_at=row.completed_at if row else None,
    )


async def customer_progress(
    session: AsyncSession, customer_id: str, now: datetime
) -> list[ChallengeProgressOut]:
    """Every live challenge, with the customer's progress in it."""
    rows = await session.execute(
        select(Challenge, ChallengeProgress)
        .outerjoin(
            ChallengeProgress,
            (ChallengeProgress.challenge_id == Challenge.id)
            & (ChallengeProgress.customer_id == customer_id),
        )
        .where(Challenge.deleted_at.is_(None))
        .order_by(Challenge.id)
    )
    return [_progress(challenge, row, now) for challenge, row in rows]
