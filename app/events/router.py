import json
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request, status
from fastapi.responses import JSONResponse
from pydantic import TypeAdapter, ValidationError

from app.auth.dependencies import RequireScope
from app.auth.scopes import Scope
from app.database import is_transient_database_error
from app.errors import (
    ProblemError,
    document_for,
    internal_error_problem,
    problem_document,
    problem_responses,
    validation_detail,
    validation_items,
)
from app.events import pipeline
from app.events.committer import GroupCommitter
from app.events.schemas import AnyEvent, BatchIn, BatchOut, EventIn, EventResult

router = APIRouter(
    prefix="/v1/events",
    tags=["events"],
    dependencies=[Depends(RequireScope(Scope.events_write))],
)

_event_adapter: TypeAdapter[AnyEvent] = TypeAdapter(EventIn)


class _Answer(JSONResponse):
    """JSON with sorted keys: an answer and its replay are the same bytes, whichever
    database stored it (PostgreSQL's JSONB does not keep the order keys were written in)."""

    def render(self, content: Any) -> bytes:
        return json.dumps(
            content, sort_keys=True, ensure_ascii=False, allow_nan=False, separators=(",", ":")
        ).encode()


async def _committer(request: Request) -> GroupCommitter:
    committer: GroupCommitter = request.app.state.committer
    return committer


Committer = Annotated[GroupCommitter, Depends(_committer)]


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
    committer: Committer,
    explain: Annotated[
        bool, Query(description="Also list the rules that did not fire, and why.")
    ] = False,
    dry_run: Annotated[
        bool, Query(description="Evaluate and answer, but write nothing and use no limits.")
    ] = False,
) -> _Answer:
    """Record one behaviour event and apply what the rules give for it.

    Exactly once per event `id`: a retry with the same body gets the stored response
    (`200`, `Idempotent-Replayed: true`); the same id with another body is a `409`.
    """
    item = pipeline.Item.of(event, explain=explain)
    if dry_run:
        (answer,) = await pipeline.run(committer.engine, [item], committer.policy, write=False)
    else:
        (answer,) = await committer.submit([item])
    if answer.error is not None:
        raise answer.error
    assert answer.body is not None
    if dry_run:
        return _Answer(answer.body, status_code=status.HTTP_200_OK)
    if answer.status == status.HTTP_200_OK:
        return _Answer(answer.body, headers={"Idempotent-Replayed": "true"})
    return _Answer(answer.body, status_code=status.HTTP_201_CREATED)


def _problem(error: BaseException, instance: str) -> dict[str, Any]:
    """A refused or failed batch item's problem document, in the request's context (so
    that it carries the request id)."""
    if not isinstance(error, ProblemError):
        if is_transient_database_error(error):
            return problem_document(
                status=503,
                slug="database-unavailable",
                detail="The database was busy or unreachable; send this event again.",
                instance=instance,
            )
        return internal_error_problem(error, instance)
    return document_for(error, instance)


@router.post(
    "/batch",
    response_model=BatchOut,
    responses=problem_responses(401, 403, 422),
)
async def post_events_batch(batch: BatchIn, request: Request, committer: Committer) -> _Answer:
    """Record up to 1,000 events in one request, each exactly as `POST /v1/events` would.

    Every event is validated and judged on its own: a refused one gets its own problem and
    leaves no trace, the others are processed. A repeated id inside the batch is processed
    once and replayed after. The batch is one unit of the ingest pipeline: one transaction,
    judged by the ruleset version active when it starts.
    """
    instance = request.url.path
    items: list[dict[str, Any]] = []
    valid: list[tuple[int, pipeline.Item]] = []
    for index, raw in enumerate(batch.events):
        event_id = raw.get("id") if isinstance(raw, dict) else None
        items.append({"index": index, "event_id": event_id if isinstance(event_id, str) else None})
        try:
            event = _event_adapter.validate_python(raw)
        except ValidationError as exc:
            errors = validation_items(exc.errors(), raw)
            items[index]["status"] = 422
            items[index]["problem"] = problem_document(
                status=422,
                slug="validation-error",
                title="Request validation failed",
                detail=validation_detail(errors),
                instance=instance,
                extra={"errors": errors},
            )
            continue
        valid.append((index, pipeline.Item.of(event)))
    answers = await committer.submit([item for _, item in valid], batch=True)
    for (index, _), answer in zip(valid, answers, strict=True):
        entry = items[index]
        if answer.error is not None:
            entry["problem"] = _problem(answer.error, instance)
            entry["status"] = entry["problem"]["status"]
        else:
            entry["status"] = answer.status
            entry["result"] = answer.body
    counts = {"processed": 0, "replayed": 0, "failed": 0}
    for entry in items:
        entry.setdefault("result", None)
        entry.setdefault("problem", None)
        key = {201: "processed", 200: "replayed"}.get(entry["status"], "failed")
        counts[key] += 1
    return _Answer({**counts, "items": items})
