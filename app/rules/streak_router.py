"""Streak definitions: ``/v1/rules/streaks``, with the rules they feed (``rules:write``)."""

from typing import Annotated

from fastapi import APIRouter, Depends, Path, Response, status

from app.auth.dependencies import RequireScope
from app.auth.scopes import Scope
from app.database import ReadSession, Session
from app.errors import problem_responses
from app.rules import streak_service as service
from app.rules.schemas import Slug
from app.rules.streak_schemas import StreakIn, StreakList, StreakOut

router = APIRouter(
    prefix="/v1/rules/streaks",
    tags=["rules"],
    dependencies=[Depends(RequireScope(Scope.rules_write))],
)

StreakId = Annotated[
    Slug, Path(description="The streak's id, as rules name it: `customer.streaks.<id>.current`.")
]


@router.get("", response_model=StreakList, responses=problem_responses(401, 403))
async def list_streaks(session: ReadSession) -> StreakList:
    """Every streak definition, by id."""
    return StreakList(items=[service.out(s) for s in await service.list_streaks(session)])


@router.put(
    "/{streak_id}",
    response_model=StreakOut,
    responses={
        201: {"model": StreakOut, "description": "Created."},
        **problem_responses(401, 403, 422),
    },
)
async def put_streak(
    streak_id: StreakId, body: StreakIn, session: Session, response: Response
) -> StreakOut:
    """Create (201) or replace (200) a streak definition. The pipeline keeps each customer's
    current and best streak from the moment this commits; rules read them as
    `customer.streaks.<id>.current` and `.best` (before the event) and `event.streaks.<id>`
    (after it). Changing the period starts every streak afresh."""
    streak, created = await service.put(session, streak_id, body)
    if created:
        response.status_code = status.HTTP_201_CREATED
    return service.out(streak)


@router.get(
    "/{streak_id}", response_model=StreakOut, responses=problem_responses(401, 403, 404, 422)
)
async def get_streak(streak_id: StreakId, session: ReadSession) -> StreakOut:
    """One streak definition."""
    return service.out(await service.get(session, streak_id))


@router.delete(
    "/{streak_id}",
    status_code=status.HTTP_204_NO_CONTENT,
    responses=problem_responses(401, 403, 404, 422),
)
async def delete_streak(streak_id: StreakId, session: Session) -> Response:
    """Remove a streak and every customer's progress in it; rules reading it then see an
    absent fact."""
    await service.delete_streak(session, streak_id)
    return Response(status_code=status.HTTP_204_NO_CONTENT)
