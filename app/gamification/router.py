"""Leaderboards: definitions (admin), standings (customers:read)."""

from typing import Annotated

from fastapi import APIRouter, Depends, Path, Query, Response, status

from app.auth.dependencies import RequireScope
from app.auth.scopes import Scope
from app.database import ReadSession, Session
from app.errors import problem_responses
from app.gamification import service, views
from app.gamification.schemas import (
    MAX_NEIGHBOURS,
    MAX_STANDINGS_PAGE,
    CustomerStandingOut,
    LeaderboardId,
    LeaderboardIn,
    LeaderboardList,
    LeaderboardOut,
    LeaderboardPatch,
    StandingsOut,
)
from app.schemas import CURSOR_DESCRIPTION, CURSOR_PATTERN, ExternalId

router = APIRouter(prefix="/v1/leaderboards", tags=["leaderboards"])

BoardId = Annotated[LeaderboardId, Path(description="The leaderboard's id.")]
PeriodQuery = Annotated[
    str,
    Query(
        min_length=1,
        max_length=16,
        pattern=r"^[A-Za-z0-9_-]+$",
        description="`current`, or a period key: `2026-W48` (week), `2026-11` (month), "
        "`2026` (year), `all_time`, or for a rolling board the window's last day "
        "(`2026-11-30`).",
    ),
]
_ADMIN = [Depends(RequireScope(Scope.admin))]
_READ = [Depends(RequireScope(Scope.customers_read))]


@router.post(
    "",
    status_code=status.HTTP_201_CREATED,
    response_model=LeaderboardOut,
    responses=problem_responses(401, 403, 409, 422),
    dependencies=_ADMIN,
)
async def create_leaderboard(body: LeaderboardIn, session: Session) -> LeaderboardOut:
    """Define a leaderboard. It counts events processed from now on, live."""
    return service.out(await service.create(session, body))


@router.get(
    "",
    response_model=LeaderboardList,
    responses=problem_responses(401, 403),
    dependencies=_READ,
)
async def list_leaderboards(session: ReadSession) -> LeaderboardList:
    """Every leaderboard, by id."""
    return LeaderboardList(items=[service.out(b) for b in await service.list_boards(session)])


@router.get(
    "/{leaderboard_id}",
    response_model=LeaderboardOut,
    responses=problem_responses(401, 403, 404, 422),
    dependencies=_READ,
)
async def get_leaderboard(leaderboard_id: BoardId, session: ReadSession) -> LeaderboardOut:
    """One leaderboard's definition."""
    return service.out(await service.get(session, leaderboard_id))


@router.patch(
    "/{leaderboard_id}",
    response_model=LeaderboardOut,
    responses=problem_responses(401, 403, 404, 422),
    dependencies=_ADMIN,
)
async def update_leaderboard(
    leaderboard_id: BoardId, body: LeaderboardPatch, session: Session
) -> LeaderboardOut:
    """Rename a leaderboard or change its rewards; only the fields sent change."""
    return service.out(await service.update(session, leaderboard_id, body))


@router.delete(
    "/{leaderboard_id}",
    status_code=status.HTTP_204_NO_CONTENT,
    responses=problem_responses(401, 403, 404, 422),
    dependencies=_ADMIN,
)
async def delete_leaderboard(leaderboard_id: BoardId, session: Session) -> Response:
    """Delete a leaderboard: it stops counting and can no longer be read."""
    await service.delete(session, leaderboard_id)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.get(
    "/{leaderboard_id}/standings",
    response_model=StandingsOut,
    responses=problem_responses(401, 403, 404, 422),
    dependencies=_READ,
)
async def get_standings(
    leaderboard_id: BoardId,
    session: ReadSession,
    period: PeriodQuery = "current",
    cursor: Annotated[
        str | None, Query(max_length=400, pattern=CURSOR_PATTERN, description=CURSOR_DESCRIPTION)
    ] = None,
    limit: Annotated[int, Query(ge=1, le=MAX_STANDINGS_PAGE)] = 100,
) -> StandingsOut:
    """A period's standings, best first: ties share a rank (1, 2, 2, 4) and are listed in
    the order their score was reached. Opted-out customers are never listed."""
    return await views.standings_page(session, leaderboard_id, period, cursor, limit)


@router.get(
    "/{leaderboard_id}/standings/{customer_id}",
    response_model=CustomerStandingOut,
    responses=problem_responses(401, 403, 404, 422),
    dependencies=_READ,
)
async def get_customer_standing(
    leaderboard_id: BoardId,
    customer_id: Annotated[ExternalId, Path(description="The shop's customer id.")],
    session: ReadSession,
    period: PeriodQuery = "current",
    neighbours: Annotated[
        int, Query(ge=0, le=MAX_NEIGHBOURS, description="Entries shown above and below.")
    ] = 2,
) -> CustomerStandingOut:
    """The customer's rank and score in a period, with the entries just above and below."""
    return await views.customer_standing(session, leaderboard_id, customer_id, period, neighbours)
