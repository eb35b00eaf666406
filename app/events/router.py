import json
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request, status
from fastapi.responses import JSONResponse

from app.auth.dependencies import RequireScope
from app.auth.scopes import Scope
from app.errors import problem_responses
from app.events import batch as batches
from app.events import pipeline
from app.events.committer import GroupCommitter
from app.events.schemas import BatchIn, BatchOut, EventIn, EventResult

router = APIRouter(
    prefix="/v1/events",
    tags=["events"],
    dependencies=[Depends(RequireScope(Scope.events_write))],
)


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
    items = await batches.run(
        batch.events, lambda valid: committer.submit(valid, batch=True), request.url.path
    )
    counts = {"processed": 0, "replayed": 0, "failed": 0}
    for entry in items:
        counts[batches.outcome(entry["status"])] += 1
    return _Answer({**counts, "items": items})
