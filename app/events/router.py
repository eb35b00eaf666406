from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request, Response, status
from pydantic import TypeAdapter, ValidationError

from app.auth.dependencies import RequireScope
from app.auth.scopes import Scope
from app.database import Session
from app.errors import (
    ProblemError,
    document_for,
    problem_document,
    problem_responses,
    validation_detail,
    validation_items,
)
from app.events import service
from app.events.schemas import AnyEvent, BatchIn, BatchItem, BatchOut, EventIn, EventResult
from app.rules import service as rules

router = APIRouter(
    prefix="/v1/events",
    tags=["events"],
    dependencies=[Depends(RequireScope(Scope.events_write))],
)

_event_adapter: TypeAdapter[AnyEvent] = TypeAdapter(EventIn)


async def _policy(request: Request) -> service.PointsPolicy:
    return service.PointsPolicy.from_settings(request.app.state.settings)


Policy = Annotated[service.PointsPolicy, Depends(_policy)]


@router.post(
    "",
    status_code=status.HTTP_201_CREATED,
    response_model=EventResult,
    responses={
        200: {
            "model": EventResult,
            "description": "The same event (same id and body) was processed before: its "
            "stored response, with `Idempotent-Replayed: true`. Also the answer to a dry run.",
        },
        **problem_responses(401, 403, 409, 422),
    },
)
async def post_event(
    event: EventIn,
    session: Session,
    policy: Policy,
    response: Response,
    explain: Annotated[
        bool, Query(description="Also list the rules that did not fire, and why.")
    ] = False,
    dry_run: Annotated[
        bool, Query(description="Evaluate and answer, but write nothing and use no limits.")
    ] = False,
) -> EventResult:
    """Record one behaviour event and apply what the rules give for it.

    Exactly once per event `id`: a retry with the same body gets the stored response
    (`200`, `Idempotent-Replayed: true`); the same id with another body is a `409`.
    """
    if dry_run:
        savepoint = await session.begin_nested()
        try:
            ingested = await service.ingest(session, event, policy=policy, explain=explain)
        finally:
            await savepoint.rollback()
        response.status_code = status.HTTP_200_OK
        return ingested.result
    ingested = await service.ingest(session, event, policy=policy, explain=explain)
    if ingested.replayed:
        response.status_code = status.HTTP_200_OK
        response.headers["Idempotent-Replayed"] = "true"
    return ingested.result


def _refused(index: int, raw: Any, problem: dict[str, Any]) -> BatchItem:
    event_id = raw.get("id") if isinstance(raw, dict) else None
    return BatchItem(
        index=index,
        event_id=event_id if isinstance(event_id, str) else None,
        status=problem["status"],
        problem=problem,
    )


@router.post(
    "/batch",
    response_model=BatchOut,
    responses=problem_responses(401, 403, 422),
)
async def post_events_batch(
    batch: BatchIn, request: Request, session: Session, policy: Policy
) -> BatchOut:
    """Record up to 1,000 events in one request, each exactly as `POST /v1/events` would.

    Every event is validated and processed on its own (its own savepoint): a refused one
    gets its own problem and leaves no trace, the others are processed. A repeated id
    inside the batch is processed once and replayed after. All events of a batch are judged
    by the ruleset version active when it starts.
    """
    items: list[BatchItem] = []
    instance = request.url.path
    active = await rules.active_ruleset(session)
    for index, raw in enumerate(batch.events):
        try:
            event = _event_adapter.validate_python(raw)
        except ValidationError as exc:
            errors = validation_items(exc.errors(), raw)
            problem = problem_document(
                status=422,
                slug="validation-error",
                title="Request validation failed",
                detail=validation_detail(errors),
                instance=instance,
                extra={"errors": errors},
            )
            items.append(_refused(index, raw, problem))
            continue
        savepoint = await session.begin_nested()
        try:
            ingested = await service.ingest(session, event, policy=policy, active=active)
        except ProblemError as exc:
            await savepoint.rollback()
            items.append(_refused(index, raw, document_for(exc, instance)))
            continue
        await savepoint.commit()
        items.append(
            BatchItem(
                index=index,
                event_id=event.id,
                status=200 if ingested.replayed else 201,
                result=ingested.result,
            )
        )
    return BatchOut(
        processed=sum(1 for i in items if i.status == 201),
        replayed=sum(1 for i in items if i.status == 200),
        failed=sum(1 for i in items if i.status >= 400),
        items=items,
    )
