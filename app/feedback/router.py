"""The feedback routes: the latest detractors, and their follow-up flag."""

from typing import Annotated

from fastapi import APIRouter, Depends, Path, Query

from app.auth.dependencies import RequireScope
from app.auth.scopes import Scope
from app.database import ReadSession, Session
from app.errors import problem_responses
from app.feedback import service
from app.feedback.schemas import MAX_FEEDBACK_PAGE, DetractorsOut, FeedbackAnswer
from app.schemas import ExternalId

router = APIRouter(prefix="/v1/feedback", tags=["feedback"])

EventId = Annotated[ExternalId, Path(description="The feedback event's id.")]


@router.get(
    "/detractors",
    response_model=DetractorsOut,
    responses=problem_responses(401, 403, 422),
    dependencies=[Depends(RequireScope(Scope.metrics_read))],
)
async def list_detractors(
    session: ReadSession,
    limit: Annotated[
        int, Query(ge=1, le=MAX_FEEDBACK_PAGE, description="How many answers, newest first.")
    ] = 20,
) -> DetractorsOut:
    """The latest NPS detractor answers (0-6), with their comments and follow-up flag."""
    return DetractorsOut(items=await service.detractors(session, limit))


@router.put(
    "/{event_id}/follow-up",
    response_model=FeedbackAnswer,
    responses=problem_responses(401, 403, 404, 422),
    dependencies=[Depends(RequireScope(Scope.customers_write))],
)
async def follow_up_answer(event_id: EventId, session: Session) -> FeedbackAnswer:
    """Mark a survey answer as followed up (`followed_up_at` becomes now; marking it again
    keeps the first time). An id that is not a feedback event is a `404 feedback-not-found`."""
    return await service.follow_up(session, event_id)


@router.delete(
    "/{event_id}/follow-up",
    response_model=FeedbackAnswer,
    responses=problem_responses(401, 403, 404, 422),
    dependencies=[Depends(RequireScope(Scope.customers_write))],
)
async def clear_answer_follow_up(event_id: EventId, session: Session) -> FeedbackAnswer:
    """Clear the follow-up flag (`followed_up_at` becomes null)."""
    return await service.clear_follow_up(session, event_id)
