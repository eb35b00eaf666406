"""The ingest loader's reads for targeting: the customer facts and saved segments the rules
read, and the running experiments with their exposures and audiences (``load.state``)."""

from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncConnection

from app.customers import facts
from app.customers.facts import FactsQuery
from app.models import Experiment, ExperimentExposure, Segment
from app.models.base import in_list
from app.rules.active import ActiveRuleset
from app.rules.unit import RunningExperiment, UnitState
from app.segments import service as segments

_SEGMENTS = select(Segment.id, Segment.condition).order_by(Segment.id)
_RUNNING = (
    select(
        Experiment.id,
        Experiment.variants,
        Experiment.salt,
        Experiment.segment_id,
        Experiment.started_at,
        Segment.condition,
    )
    .outerjoin(Segment, Segment.id == Experiment.segment_id)
    .where(Experiment.status == "running")
    .order_by(Experiment.id)
)
_EXPOSED = select(
    ExperimentExposure.experiment_id,
    ExperimentExposure.customer_id,
    ExperimentExposure.variant,
    ExperimentExposure.would_have,
).where(
    in_list(ExperimentExposure.customer_id, "ids"),
    in_list(ExperimentExposure.experiment_id, "experiments"),
)


async def facts_and_segments(
    conn: AsyncConnection,
    unit: UnitState,
    ruleset: ActiveRuleset,
    existing: list[str],
    frequency_days: int,
) -> None:
    """The targeting facts and segments the rules read, as of the unit's start."""
    query = await FactsQuery(unit.now, frequency_days).prepare(conn, ruleset.targeting)
    if ruleset.targeting:
        for customer_id, row in (
            await facts.read(conn, query, ruleset.targeting, existing)
        ).items():
            customer = unit.customers[customer_id]
            for name in ruleset.targeting:
                setattr(customer, name, row[name])
    if ruleset.reads_segments:
        saved = [
            (row.id, segments.stored_condition(row.condition))
            for row in await conn.execute(_SEGMENTS)
        ]
        inside = await segments.memberships(conn, saved, existing, unit.now, frequency_days)
        for customer_id, ids in inside.items():
            unit.customers[customer_id].segments = frozenset(ids)


async def experiments(
    conn: AsyncConnection, unit: UnitState, existing: list[str], frequency_days: int
) -> None:
    """The running experiments, who of the unit is already exposed, and who is in their
    audiences (as of the unit's start)."""
    audiences: dict[str, Any] = {}
    for row in await conn.execute(_RUNNING):
        unit.experiments.append(
            RunningExperiment(
                row.id,
                tuple((v["id"], int(v["weight"])) for v in row.variants),
                row.salt,
                row.segment_id,
                row.started_at,
            )
        )
        if row.segment_id is not None:
            audiences[row.segment_id] = segments.stored_condition(row.condition)
    if not unit.experiments or not existing:
        return
    parameters = {"ids": existing, "experiments": [e.id for e in unit.experiments]}
    for row in await conn.execute(_EXPOSED, parameters):
        unit.exposed[(row[0], row[1])] = row.variant
        unit.would_have[(row[0], row[1])] = dict(row.would_have)
    if audiences:
        inside = await segments.memberships(
            conn, list(audiences.items()), existing, unit.now, frequency_days
        )
        unit.audiences.update((c, frozenset(ids)) for c, ids in inside.items())
