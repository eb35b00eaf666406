"""``Idempotency-Key`` for POSTs that are not events: claim the key, store the answer.

The claim is an insert arbitrated by the primary key, in the same transaction as the
work: if the work fails, the claim rolls back with it and the key can be retried.
"""

import hashlib
import json
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Annotated, Any, TypeVar, cast

from fastapi import Header
from fastapi.responses import JSONResponse
from pydantic import BaseModel
from sqlalchemy import Table, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from app import database
from app.errors import Conflict
from app.models import IdempotencyKey
from app.models.base import utcnow

IdempotencyKeyHeader = Annotated[
    str | None,
    Header(
        alias="Idempotency-Key",
        min_length=1,
        max_length=200,
        description="Retry-safe: a repeat with the same key and body replays the first answer.",
    ),
]


class IdempotencyKeyReused(Conflict):
    slug = "idempotency-key-reused"
    title = "Idempotency key reused with a different request"


@dataclass(frozen=True)
class Replay:
    status_code: int
    body: dict[str, Any]


def body_hash(body: dict[str, Any]) -> str:
    """The digest that tells a repeat (the same body) from a reused key or event id (another
    body): SHA-256 of the body's canonical JSON."""
    canonical = json.dumps(body, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()


def request_hash(body: BaseModel) -> str:
    return body_hash(body.model_dump(mode="json"))


_KEYS = cast(Table, IdempotencyKey.__table__)


async def claim(session: AsyncSession, scope: str, key: str, digest: str) -> Replay | None:
    """None when the key is new (go ahead); the stored answer when it was used before."""
    values = {"scope": scope, "key": key, "request_hash": digest, "created_at": utcnow()}
    if await database.claim(session, _KEYS, ("scope", "key"), values):
        return None
    stored = await session.scalar(
        select(IdempotencyKey).where(IdempotencyKey.scope == scope, IdempotencyKey.key == key)
    )
    if stored is None or stored.status_code is None or stored.response is None:
        # Not reachable while claims and answers commit together; answered as a conflict
        # rather than a crash should that ever change.
        raise IdempotencyKeyReused(f"Idempotency-Key {key!r} is in use; retry shortly.")
    if stored.request_hash != digest:
        raise IdempotencyKeyReused(
            f"Idempotency-Key {key!r} was used for a different request.",
            extra={"idempotency_key": key},
        )
    return Replay(status_code=stored.status_code, body=stored.response)


async def remember(
    session: AsyncSession, scope: str, key: str, status_code: int, body: BaseModel
) -> None:
    await session.execute(
        update(IdempotencyKey)
        .where(IdempotencyKey.scope == scope, IdempotencyKey.key == key)
        .values(status_code=status_code, response=body.model_dump(mode="json"))
    )


Result = TypeVar("Result", bound=BaseModel)


async def run_once(
    session: AsyncSession,
    *,
    scope: str,
    key: str | None,
    request: BaseModel,
    work: Callable[[], Awaitable[Result]],
) -> Result | JSONResponse:
    """Do ``work`` once per ``(scope, key)``: a repeat replays its answer with 200 and
    ``Idempotent-Replayed: true``. Without a key, the work simply runs."""
    if key is None:
        return await work()
    replay = await claim(session, scope, key, request_hash(request))
    if replay is not None:
        return JSONResponse(replay.body, status_code=200, headers={"Idempotent-Replayed": "true"})
    result = await work()
    await remember(session, scope, key, 201, result)
    return result
