"""Reads of survey answers and the follow-up flag; the request session commits."""

from datetime import datetime

from sqlalchemy import delete, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession

from app.errors import NotFound
from app.feedback.schemas import FeedbackAnswer
from app.models import Event, FeedbackFollowUp
from app.models.base import utcnow

DETRACTOR_MAX = 6


def _answer(event: Event, followed_up_at: datetime | None) -> FeedbackAnswer:
    comment = event.data.get("comment")
    return FeedbackAnswer(
        event_id=event.id,
        customer_id=event.customer_id,
        survey="csat" if event.survey == "csat" else "nps",
        score=int(event.score or 0),
        comment=comment if isinstance(comment, str) else None,
        channel=event.channel,
        occurred_at=event.occurred_at,
        followed_up_at=followed_up_at,
    )


async def detractors(session: AsyncSession, limit: int) -> list[FeedbackAnswer]:
    # The survey index's range, newest first: the latest answers without a sort of all.
    statement = (
        select(Event, FeedbackFollowUp.followed_up_at)
        .outerjoin(FeedbackFollowUp, FeedbackFollowUp.event_id == Event.id)
        .where(Event.survey == "nps", Event.type == "feedback", Event.score <= DETRACTOR_MAX)
        .order_by(Event.occurred_at.desc(), Event.id.desc())
        .limit(limit)
    )
    rows = (await session.execute(statement)).all()
    return [_answer(event, followed) for event, followed in rows]


class AnswerNotFound(NotFound):
    slug = "feedback-not-found"
    title = "No survey answer has this event id"


async def answer(session: AsyncSession, event_id: str) -> FeedbackAnswer:
    statement = (
        select(Event, FeedbackFollowUp.followed_up_at)
        .outerjoin(FeedbackFollowUp, FeedbackFollowUp.event_id == Event.id)
        .where(Event.id == event_id, Event.type == "feedback", Event.survey.is_not(None))
    )
    row = (await session.execute(statement)).first()
    if row is None:
        raise AnswerNotFound(
            f"No survey answer (a feedback event) has the id {event_id!r}.",
            extra={"event_id": event_id},
        )
    return _answer(row[0], row[1])


async def follow_up(session: AsyncSession, event_id: str) -> FeedbackAnswer:
    """Mark the answer followed up; marking it again keeps the first time (concurrent
    marks insert one row: the primary key decides)."""
    await answer(session, event_id)
    dialect = session.get_bind().dialect.name
    insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    await session.execute(
        insert(FeedbackFollowUp)
        .values(event_id=event_id, followed_up_at=utcnow())
        .on_conflict_do_nothing(index_elements=["event_id"])
    )
    return await answer(session, event_id)


async def clear_follow_up(session: AsyncSession, event_id: str) -> FeedbackAnswer:
    await answer(session, event_id)
    await session.execute(delete(FeedbackFollowUp).where(FeedbackFollowUp.event_id == event_id))
    return await answer(session, event_id)
