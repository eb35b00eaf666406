"""Saved segments: CRUD, their size and their members."""

from typing import Annotated

from fastapi import APIRouter, Depends, Path, Query, Request, Response, status

from app.auth.dependencies import RequireScope
from app.auth.scopes import Scope
from app.customers import directory
from app.customers.schemas import CustomerSummary
from app.database import ReadSession, Session
from app.errors import InvalidCursor, problem_responses
from app.keyset import decode_keyset, encode_keyset
from app.models import Segment
from app.models.base import utcnow
from app.rules.schemas import SLUG_PATTERN
from app.schemas import MAX_PAGE_SIZE, Page
from app.segments import service
from app.segments.schemas import (
    SegmentDetailOut,
    SegmentIn,
    SegmentListOut,
    SegmentOut,
    SegmentPatch,
)

router = APIRouter(prefix="/v1/segments", tags=["segments"])

SegmentId = Annotated[
    str, Path(min_length=1, max_length=50, pattern=SLUG_PATTERN, description="The segment's id.")
]
READ = [Depends(RequireScope(Scope.customers_read))]
WRITE = [Depends(RequireScope(Scope.rules_write))]


def frequency_days(request: Request) -> int:
    days: int = request.app.state.settings.frequency_window_days
    return days


FrequencyDays = Annotated[int, Depends(frequency_days)]


def _out(segment: Segment) -> SegmentOut:
    return SegmentOut(
        id=segment.id,
        name=segment.name,
        description=segment.description,
        condition=service.condition_of(segment),
        created_at=segment.created_at,
        updated_at=segment.updated_at,
    )


async def _detail(session: ReadSession | Session, segment: Segment, days: int) -> SegmentDetailOut:
    size = await service.size(session, segment, days)
    return SegmentDetailOut(**_out(segment).model_dump(), size=size)


@router.post(
    "",
    response_model=SegmentDetailOut,
    status_code=status.HTTP_201_CREATED,
    responses=problem_responses(401, 403, 409, 422),
    dependencies=WRITE,
)
async def create_segment(
    body: SegmentIn, session: Session, days: FrequencyDays
) -> SegmentDetailOut:
    """Save a segment: a condition over customer facts. Membership is evaluated when read,
    so it always agrees with the definition and the facts."""
    return await _detail(session, await service.create(session, body), days)


@router.get(
    "", response_model=SegmentListOut, responses=problem_responses(401, 403), dependencies=READ
)
async def list_segments(session: ReadSession) -> SegmentListOut:
    """Every saved segment, by id (without sizes: `GET /v1/segments/{id}` counts one)."""
    return SegmentListOut(items=[_out(s) for s in await service.listed(session)])


@router.get(
    "/{segment_id}",
    response_model=SegmentDetailOut,
    responses=problem_responses(401, 403, 404, 422),
    dependencies=READ,
)
async def get_segment(
    segment_id: SegmentId, session: ReadSession, days: FrequencyDays
) -> SegmentDetailOut:
    """The definition and its `size`: the customers matching it now."""
    return await _detail(session, await service.get(session, segment_id), days)


@router.patch(
    "/{segment_id}",
    response_model=SegmentDetailOut,
    responses=problem_responses(401, 403, 404, 422),
    dependencies=WRITE,
)
async def update_segment(
    segment_id: SegmentId, body: SegmentPatch, session: Session, days: FrequencyDays
) -> SegmentDetailOut:
    """Change the name, description or condition; only the fields sent change."""
    return await _detail(session, await service.update(session, segment_id, body), days)


@router.delete(
    "/{segment_id}",
    status_code=status.HTTP_204_NO_CONTENT,
    response_class=Response,
    responses=problem_responses(401, 403, 404, 409, 422),
    dependencies=WRITE,
)
async def delete_segment(segment_id: SegmentId, session: Session) -> Response:
    """Delete a segment; refused (409) while it is an experiment's audience."""
    await service.delete(session, segment_id)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.get(
    "/{segment_id}/customers",
    response_model=Page[CustomerSummary],
    responses=problem_responses(401, 403, 404, 422),
    dependencies=READ,
)
async def list_segment_customers(
    segment_id: SegmentId,
    session: ReadSession,
    days: FrequencyDays,
    cursor: Annotated[str | None, Query(max_length=400, description="From `next_cursor`.")] = None,
    limit: Annotated[int, Query(ge=1, le=MAX_PAGE_SIZE)] = 50,
) -> Page[CustomerSummary]:
    """The segment's members, newest first (by when the service first saw them)."""
    segment = await service.get(session, segment_id)
    after = None
    if cursor is not None:
        after = decode_keyset(cursor)
        if after is None:
            raise InvalidCursor("The cursor is not one this API issued.")
    chosen = await service.members(session, service.condition_of(segment), utcnow(), days)
    where = directory.CustomerFilter(segment=chosen)
    found = await directory.page(session, where, after=after, limit=limit + 1)
    more = len(found) > limit
    found = found[:limit]
    last = found[-1] if more else None
    return Page[CustomerSummary](
        items=[directory.summary(c) for c in found],
        next_cursor=encode_keyset(last.created_at, last.id) if last is not None else None,
    )
