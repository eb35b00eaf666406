"""Many events at once, each judged on its own: the batch endpoint's and the import's way
in to the pipeline.

Every raw event is validated alone, so a bad one gets its own problem document and the
rest go on as one unit; what the pipeline refuses or fails is answered the same way.
"""

from collections.abc import Awaitable, Callable, Sequence
from typing import Any

from pydantic import TypeAdapter, ValidationError

from app.database import is_transient_database_error
from app.errors import (
    ProblemError,
    document_for,
    internal_error_problem,
    problem_document,
    validation_detail,
    validation_items,
)
from app.events import pipeline
from app.events.schemas import AnyEvent, EventIn

_event_adapter: TypeAdapter[AnyEvent] = TypeAdapter(EventIn)

Submit = Callable[[list[pipeline.Item]], Awaitable[list[pipeline.Answer]]]


def invalid(exc: ValidationError, raw: Any, instance: str | None) -> dict[str, Any]:
    """The problem document of an event that does not validate, naming each failed field."""
    errors = validation_items(exc.errors(), raw)
    return problem_document(
        status=422,
        slug="validation-error",
        title="Request validation failed",
        detail=validation_detail(errors),
        instance=instance,
        extra={"errors": errors},
    )


def problem(error: BaseException, instance: str | None) -> dict[str, Any]:
    """A refused or failed item's problem document, carrying the request id."""
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


async def run(raws: Sequence[Any], submit: Submit, instance: str | None) -> list[dict[str, Any]]:
    """Answers ``{index, event_id, status, result, problem}`` for each raw event, in order."""
    items: list[dict[str, Any]] = []
    valid: list[tuple[int, pipeline.Item]] = []
    for index, raw in enumerate(raws):
        event_id = raw.get("id") if isinstance(raw, dict) else None
        entry: dict[str, Any] = {
            "index": index,
            "event_id": event_id if isinstance(event_id, str) else None,
            "result": None,
            "problem": None,
        }
        items.append(entry)
        try:
            event = _event_adapter.validate_python(raw)
        except ValidationError as exc:
            entry["problem"] = invalid(exc, raw, instance)
            entry["status"] = 422
            continue
        valid.append((index, pipeline.Item.of(event)))
    answers = await submit([item for _, item in valid]) if valid else []
    for (index, _), answer in zip(valid, answers, strict=True):
        entry = items[index]
        if answer.error is not None:
            entry["problem"] = problem(answer.error, instance)
            entry["status"] = entry["problem"]["status"]
        else:
            entry["status"] = answer.status
            entry["result"] = answer.body
    return items


def outcome(status: int) -> str:
    return {201: "processed", 200: "replayed"}.get(status, "failed")
