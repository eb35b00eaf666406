"""Experiments: definitions, their lifecycle (draft -> running -> stopped), assignments."""

import uuid
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from app.database import insert_for
from app.errors import Conflict, NotFound
from app.experiments.assignment import bucket, variant_for
from app.experiments.schemas import (
    AssignmentOut,
    ExperimentIn,
    ExperimentOut,
    ExperimentPatch,
    variants_of,
)
from app.models import Experiment, ExperimentExposure, Segment
from app.models.base import utcnow
from app.segments.service import SegmentNotFound


class ExperimentNotFound(NotFound):
    slug = "experiment-not-found"
    title = "No such experiment"

    def __init__(self, experiment_id: str) -> None:
        super().__init__(
            f"No experiment {experiment_id!r}.", extra={"experiment_id": experiment_id}
        )


class ExperimentIdTaken(Conflict):
    slug = "experiment-id-taken"
    title = "Experiment id already in use"


class ExperimentState(Conflict):
    slug = "experiment-state"
    title = "Not possible in the experiment's state"


def out(experiment: Experiment) -> ExperimentOut:
    return ExperimentOut.model_validate(experiment, from_attributes=True)


async def get(session: AsyncSession, experiment_id: str, *, lock: bool = False) -> Experiment:
    experiment = await session.get(Experiment, experiment_id, with_for_update=lock)
    if experiment is None:
        raise ExperimentNotFound(experiment_id)
    return experiment


async def _audience(session: AsyncSession, segment_id: str | None) -> None:
    if segment_id is not None and await session.get(Segment, segment_id) is None:
        raise SegmentNotFound(segment_id)


async def listed(session: AsyncSession) -> list[Experiment]:
    return list(await session.scalars(select(Experiment).order_by(Experiment.created_at.desc())))


async def create(session: AsyncSession, body: ExperimentIn) -> Experiment:
    await _audience(session, body.segment_id)
    experiment_id = body.id or f"exp-{uuid.uuid4().hex[:12]}"
    now = utcnow()
    values = body.model_dump(mode="json", exclude={"id"})
    inserted = await session.execute(
        insert_for(session)(Experiment)
        .values(id=experiment_id, status="draft", created_at=now, updated_at=now, **values)
        .on_conflict_do_nothing(index_elements=["id"])
    )
    if inserted.rowcount != 1:  # type: ignore[attr-defined]
        raise ExperimentIdTaken(
            f"An experiment {experiment_id!r} already exists.",
            extra={"experiment_id": experiment_id},
        )
    return await get(session, experiment_id)


_DRAFT_ONLY = (
    "variants",
    "segment_id",
    "salt",
    "primary_metric",
    "guardrails",
    "point_value",
    "pre_period_days",
)


async def update(session: AsyncSession, experiment_id: str, body: ExperimentPatch) -> Experiment:
    experiment = await get(session, experiment_id, lock=True)
    changes = body.model_dump(mode="json", include=body.model_fields_set)
    frozen = [name for name in _DRAFT_ONLY if name in changes]
    if frozen and experiment.status != "draft":
        raise ExperimentState(
            f"Experiment {experiment_id!r} is {experiment.status}: only its name and "
            f"description change now, not {', '.join(frozen)}.",
            extra={"experiment_id": experiment_id, "status": experiment.status},
        )
    if "segment_id" in changes:
        await _audience(session, changes["segment_id"])
    for name, value in changes.items():
        if value is not None or name == "segment_id":
            setattr(experiment, name, value)
    experiment.updated_at = utcnow()
    await session.flush()
    return experiment


async def start(
    session: AsyncSession, experiment_id: str, *, at: datetime | None = None
) -> Experiment:
    """Start a draft, now; or ``at`` an earlier time, for a history loaded afterwards (the
    demo's), whose events from then on expose their customers."""
    experiment = await get(session, experiment_id, lock=True)
    if experiment.status != "draft":
        raise ExperimentState(
            f"Experiment {experiment_id!r} is {experiment.status}; only a draft starts.",
            extra={"experiment_id": experiment_id, "status": experiment.status},
        )
    experiment.status = "running"
    experiment.updated_at = utcnow()
    experiment.started_at = at or experiment.updated_at
    await session.flush()
    return experiment


async def stop(session: AsyncSession, experiment_id: str) -> Experiment:
    experiment = await get(session, experiment_id, lock=True)
    if experiment.status != "running":
        raise ExperimentState(
            f"Experiment {experiment_id!r} is {experiment.status}; only a running one stops.",
            extra={"experiment_id": experiment_id, "status": experiment.status},
        )
    experiment.status = "stopped"
    experiment.stopped_at = experiment.updated_at = utcnow()
    await session.flush()
    return experiment


async def assignment(session: AsyncSession, experiment_id: str, customer_id: str) -> AssignmentOut:
    experiment = await get(session, experiment_id)
    exposure = await session.get(ExperimentExposure, (experiment_id, customer_id))
    return AssignmentOut(
        experiment_id=experiment_id,
        customer_id=customer_id,
        variant=variant_for(experiment.salt, customer_id, variants_of(experiment.variants)),
        bucket=bucket(experiment.salt, customer_id),
        exposed=exposure is not None,
        exposed_at=None if exposure is None else exposure.exposed_at,
        exposure_event_id=None if exposure is None else exposure.event_id,
        would_have={} if exposure is None else exposure.would_have,
    )
