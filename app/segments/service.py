"""Saved segments: their definitions, and their members as a live query over the facts."""

import uuid
from datetime import datetime
from typing import Any

from pydantic import TypeAdapter
from sqlalchemy import Select, case, func, select
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession

from app.customers.facts import ALL_FACTS, FactsQuery, recency
from app.customers.facts import read as read_facts
from app.customers.schemas import CustomerFactsOut
from app.database import dialect_of, insert_for
from app.errors import Conflict, NotFound
from app.metrics.queries.common import CustomerFilter
from app.models import Experiment, Segment
from app.models.base import utcnow
from app.rules.schemas import Condition, ConditionNode
from app.segments.schemas import SegmentIn, SegmentPatch
from app.segments.sql import Compiler, needed


class SegmentNotFound(NotFound):
    slug = "segment-not-found"
    title = "No such segment"

    def __init__(self, segment_id: str) -> None:
        super().__init__(f"No segment {segment_id!r}.", extra={"segment_id": segment_id})


class SegmentIdTaken(Conflict):
    slug = "segment-id-taken"
    title = "Segment id already in use"


class SegmentInUse(Conflict):
    slug = "segment-in-use"
    title = "Segment is an experiment's audience"


_STORED_CONDITION: TypeAdapter[Any] = TypeAdapter(Condition)


def stored_condition(document: dict[str, Any] | None) -> ConditionNode | None:
    """A stored condition, validated when it was saved, as a condition tree."""
    if document is None:
        return None
    node: ConditionNode = _STORED_CONDITION.validate_python(document)
    return node


def condition_of(segment: Segment) -> ConditionNode | None:
    return stored_condition(segment.condition)


def _stored(condition: ConditionNode | None) -> dict[str, Any] | None:
    if condition is None:
        return None
    return condition.model_dump(mode="json", by_alias=True, exclude_defaults=False)


async def members(
    executor: AsyncConnection | AsyncSession,
    condition: ConditionNode | None,
    now: datetime,
    frequency_days: int,
    ids: list[str] | None = None,
) -> Select[tuple[str]]:
    """The ids of the customers matching ``condition`` as of ``now`` (of ``ids`` only,
    when given), as a statement; the RFM breakpoints it needs are read now."""
    wanted = needed(condition)
    query = await FactsQuery(now, frequency_days).prepare(executor, wanted)
    facts = query.select(wanted, ids).subquery("facts")
    where = Compiler(facts, now, dialect_of(executor)).condition(condition)
    return select(facts.c.id).where(where)


async def get(session: AsyncSession, segment_id: str) -> Segment:
    segment = await session.get(Segment, segment_id)
    if segment is None:
        raise SegmentNotFound(segment_id)
    return segment


async def size(session: AsyncSession, segment: Segment, frequency_days: int) -> int:
    ids = (await members(session, condition_of(segment), utcnow(), frequency_days)).subquery()
    return int(await session.scalar(select(func.count()).select_from(ids)) or 0)


async def listed(session: AsyncSession) -> list[Segment]:
    return list(await session.scalars(select(Segment).order_by(Segment.id)))


async def create(session: AsyncSession, body: SegmentIn) -> Segment:
    segment_id = body.id or f"seg-{uuid.uuid4().hex[:12]}"
    now = utcnow()
    inserted = await session.execute(
        insert_for(session)(Segment)
        .values(
            id=segment_id,
            name=body.name,
            description=body.description,
            condition=_stored(body.condition),
            created_at=now,
            updated_at=now,
        )
        .on_conflict_do_nothing(index_elements=["id"])
    )
    if inserted.rowcount != 1:  # type: ignore[attr-defined]
        raise SegmentIdTaken(
            f"A segment {segment_id!r} already exists.", extra={"segment_id": segment_id}
        )
    return await get(session, segment_id)


async def update(session: AsyncSession, segment_id: str, body: SegmentPatch) -> Segment:
    segment = await session.get(Segment, segment_id, with_for_update=True)
    if segment is None:
        raise SegmentNotFound(segment_id)
    changes = body.model_fields_set
    if "name" in changes and body.name is not None:
        segment.name = body.name
    if "description" in changes and body.description is not None:
        segment.description = body.description
    if "condition" in changes:
        segment.condition = _stored(body.condition)
    segment.updated_at = utcnow()
    await session.flush()
    return segment


async def delete(session: AsyncSession, segment_id: str) -> None:
    segment = await session.get(Segment, segment_id, with_for_update=True)
    if segment is None:
        raise SegmentNotFound(segment_id)
    audience_of = await session.scalar(
        select(Experiment.id).where(Experiment.segment_id == segment_id).limit(1)
    )
    if audience_of is not None:
        raise SegmentInUse(
            f"Segment {segment_id!r} is the audience of experiment {audience_of!r}.",
            extra={"segment_id": segment_id, "experiment_id": audience_of},
        )
    await session.delete(segment)
    await session.flush()


async def memberships(
    conn: AsyncConnection | AsyncSession,
    segments: list[tuple[str, ConditionNode | None]],
    ids: list[str],
    now: datetime,
    frequency_days: int,
) -> dict[str, set[str]]:
    """For the pipeline: customer id -> the segments (of ``segments``) they are in, for the
    customers ``ids``, in one statement."""
    found: dict[str, set[str]] = {customer_id: set() for customer_id in ids}
    if not segments or not ids:
        return found
    wanted = set().union(*(needed(condition) for _, condition in segments))
    query = await FactsQuery(now, frequency_days).prepare(conn, wanted)
    facts = query.select(wanted, ids).subquery("facts")
    compiler = Compiler(facts, now, dialect_of(conn))
    columns = [
        case((compiler.condition(condition), 1), else_=0).label(f"s{i}")
        for i, (_, condition) in enumerate(segments)
    ]
    for row in await conn.execute(select(facts.c.id, *columns)):
        for i, (segment_id, _) in enumerate(segments):
            if row[i + 1]:
                found[row[0]].add(segment_id)
    return found


async def customer_filter(
    session: AsyncSession, segment_id: str, frequency_days: int
) -> CustomerFilter:
    """The metrics' restriction to a segment's members now; 404 for an unknown segment."""
    segment = await get(session, segment_id)
    return CustomerFilter(await members(session, condition_of(segment), utcnow(), frequency_days))


async def facts_of(
    session: AsyncSession, customer_id: str, frequency_days: int
) -> CustomerFactsOut:
    """One customer's targeting facts and segments, now."""
    now = utcnow()
    query = await FactsQuery(now, frequency_days).prepare(session, ALL_FACTS)
    found = await read_facts(session, query, ALL_FACTS, [customer_id])
    row = found.get(customer_id)
    if row is None:
        raise NotFound(f"No customer {customer_id!r}.")
    saved = [(s.id, condition_of(s)) for s in await listed(session)]
    inside = await memberships(session, saved, [customer_id], now, frequency_days)
    return CustomerFactsOut(
        recency_days=recency(row["last_purchase_at"], now),
        frequency=row["frequency"],
        monetary=row["monetary"],
        rfm_score=row["rfm_score"],
        probability_alive=row["probability_alive"],
        predicted_clv=row["predicted_clv"],
        last_nps=row["last_nps"],
        last_csat=row["last_csat"],
        segments=sorted(inside[customer_id]),
    )
