"""Challenges: definitions (admin), a customer's progress (customers:read)."""

from typing import Annotated

from fastapi import APIRouter, Depends, Path, Response, status

from app.auth.dependencies import RequireScope
from app.auth.scopes import Scope
from app.customers import service as customers
from app.database import ReadSession, Session
from app.errors import problem_responses
from app.gamification import challenge_service as service
from app.gamification.challenge_schemas import (
    ChallengeId,
    ChallengeIn,
    ChallengeList,
    ChallengeOut,
    ChallengePatch,
    ChallengeProgressList,
)
from app.models.base import utcnow
from app.schemas import ExternalId

router = APIRouter(tags=["challenges"])

Id = Annotated[ChallengeId, Path(description="The challenge's id.")]
_ADMIN = [Depends(RequireScope(Scope.admin))]
_READ = [Depends(RequireScope(Scope.customers_read))]


@router.post(
    "/v1/challenges",
    status_code=status.HTTP_201_CREATED,
    response_model=ChallengeOut,
    responses=problem_responses(401, 403, 409, 422),
    dependencies=_ADMIN,
)
async def create_challenge(body: ChallengeIn, session: Session) -> ChallengeOut:
    """Define a challenge; events processed from now on count towards it."""
    return service.out(await service.create(session, body))


@router.get(
    "/v1/challenges",
    response_model=ChallengeList,
    responses=problem_responses(401, 403),
    dependencies=_READ,
)
async def list_challenges(session: ReadSession) -> ChallengeList:
    """Every live challenge, by id."""
    return ChallengeList(items=[service.out(c) for c in await service.list_challenges(session)])


@router.get(
    "/v1/challenges/{challenge_id}",
    response_model=ChallengeOut,
    responses=problem_responses(401, 403, 404, 422),
    dependencies=_READ,
)
async def get_challenge(challenge_id: Id, session: ReadSession) -> ChallengeOut:
    """One challenge's definition."""
    return service.out(await service.get(session, challenge_id))


@router.patch(
    "/v1/challenges/{challenge_id}",
    response_model=ChallengeOut,
    responses=problem_responses(401, 403, 404, 422),
    dependencies=_ADMIN,
)
async def update_challenge(
    challenge_id: Id, body: ChallengePatch, session: Session
) -> ChallengeOut:
    """Rename a challenge or change its description; only the fields sent change."""
    return service.out(await service.update(session, challenge_id, body))


@router.delete(
    "/v1/challenges/{challenge_id}",
    status_code=status.HTTP_204_NO_CONTENT,
    responses=problem_responses(401, 403, 404, 422),
    dependencies=_ADMIN,
)
async def delete_challenge(challenge_id: Id, session: Session) -> Response:
    """Delete a challenge: it stops counting; completions already rewarded stay."""
    await service.delete(session, challenge_id)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.get(
    "/v1/customers/{customer_id}/challenges",
    tags=["customers"],
    response_model=ChallengeProgressList,
    responses=problem_responses(401, 403, 404, 422),
    dependencies=_READ,
)
async def get_customer_challenges(
    customer_id: Annotated[ExternalId, Path(description="The shop's customer id.")],
    session: ReadSession,
) -> ChallengeProgressList:
    """The customer's progress (`3/5`), deadline and completions in every live challenge."""
    await customers.get(session, customer_id)
    items = await service.customer_progress(session, customer_id, utcnow())
    return ChallengeProgressList(items=items)
