"""``GET /v1/events`` and ``GET /v1/events/{event_id}``.

A router of its own: the posting routes require `events:write`, while reading events back
(they hold customers' reviews and answers) requires `customers:read`.
"""

from typing import Annotated

from fastapi import APIRouter, Depends, Path, Query

from app.auth.dependencies import RequireScope
from app.auth.scopes import Scope
from app.database import ReadSession
from app.errors import InvalidCursor, problem_responses
from app.events import reads
from app.events.read_schemas import StoredEvent, StoredEventDetail
from app.events.types import EventType
from app.keyset import decode_keyset, encode_keyset
from app.schemas import MAX_PAGE_SIZE, ExternalId, Instant, Page

router = APIRouter(
    prefix="/v1/events",
    tags=["events"],
    dependencies=[Depends(RequireScope(Scope.customers_read))],
)


@router.get(
    "",
    response_model=Page[StoredEvent],
    responses=problem_responses(401, 403, 422),
)
async def list_events(
    session: ReadSession,
    customer_id: Annotated[ExternalId | None, Query(description="Only this customer's.")] = None,
    type_: Annotated[EventType | None, Query(alias="type", description="Only this type.")] = None,
    from_: Annotated[
        Instant | None,
        Query(
            alias="from",
            description="Occurred at or after: a datetime with an offset, or a date (its "
            "start, UTC).",
        ),
    ] = None,
    to: Annotated[
        Instant | None,
        Query(description="Occurred before: a datetime with an offset, or a date (included)."),
    ] = None,
    cursor: Annotated[str | None, Query(max_length=400, description="From `next_cursor`.")] = None,
    limit: Annotated[int, Query(ge=1, le=MAX_PAGE_SIZE)] = 50,
) -> Page[StoredEvent]:
    """Stored events, by when they occurred, newest first, a page at a time. `from` at or
    after `to` is a 422 `invalid-window`."""
    after = None
    if cursor is not None:
        after = decode_keyset(cursor)
        if after is None:
            raise InvalidCursor("The cursor is not one this API issued.")
    where = reads.EventFilter(
        customer_id=customer_id,
        type=type_.value if type_ is not None else None,
        from_=reads.instant(from_, end=False) if from_ is not None else None,
        to=reads.instant(to, end=True) if to is not None else None,
    )
    found = await reads.page(session, where, after=after, limit=limit + 1)
    more = len(found) > limit
    found = found[:limit]
    last = found[-1] if more else None
    return Page[StoredEvent](
        items=[StoredEvent.model_validate(e) for e in found],
        next_cursor=encode_keyset(last.occurred_at, last.id) if last is not None else None,
    )


@router.get(
    "/{event_id}",
    response_model=StoredEventDetail,
    responses=problem_responses(401, 403, 404, 422),
)
async def get_event(
    event_id: Annotated[ExternalId, Path(description="The event's id, as posted.")],
    session: ReadSession,
) -> StoredEventDetail:
    """One stored event and the answer it got."""
    event = await reads.get(session, event_id)
    detail = StoredEventDetail.model_validate(
        {**StoredEvent.model_validate(event).model_dump(), "answer": event.response}
    )
    return detail
