"""The demo's experiment and predictive fit, so that a fresh demo fills the dashboard's
Experiments and Customer value pages as well as the others.

The experiment, double points for returning customers against a control, is started eight
weeks before the history ends, as if the shop had been running it: the later purchases
of the audience expose its customers, and the treatment rule doubles the points of those
in the ``double`` variant. Its audience is a segment of customers with two purchases or
more, so a first purchase (the README's newcomer) is never part of it. The fit is the
one ``POST /v1/metrics/cltv/fits`` stores with its defaults, as of the history's end.
"""

from datetime import datetime, timedelta
from typing import Final

from sqlalchemy.ext.asyncio import AsyncSession

from app.database import Database
from app.errors import Unprocessable
from app.experiments import service as experiments
from app.experiments.schemas import ExperimentIn
from app.metrics import predictive
from app.metrics.queries.common import for_aggregates
from app.metrics.schemas import CltvFitIn
from app.models import Experiment, Rule, Segment
from app.rules import service as rules
from app.rules.schemas import RuleDocument
from app.segments import service as segments
from app.segments.schemas import SegmentIn

EXPERIMENT_ID: Final = "demo-double-points"
RUNNING_FOR: Final = timedelta(weeks=8)

AUDIENCE: Final = SegmentIn.model_validate(
    {
        "id": "demo-returning",
        "name": "Returning customers",
        "description": "Two purchases or more: the demo experiment's audience.",
        "condition": {"fact": "customer.purchase_count", "op": "gte", "value": 2},
    }
)
EXPERIMENT: Final = ExperimentIn.model_validate(
    {
        "id": EXPERIMENT_ID,
        "name": "Double points for returning customers",
        "description": "Does doubling the points of returning customers raise their spend?",
        "variants": [{"id": "control", "weight": 50}, {"id": "double", "weight": 50}],
        "segment_id": AUDIENCE.id,
        "salt": EXPERIMENT_ID,
        "primary_metric": "revenue_per_customer",
        "guardrails": ["points_cost_per_customer", "net_revenue_per_customer"],
    }
)
TREATMENT: Final = RuleDocument.model_validate(
    {
        "name": "Double points (demo experiment's treatment)",
        "types": ["purchase"],
        "actions": [{"type": "multiply_points", "factor": 2}],
        "experiment": {"id": EXPERIMENT_ID, "variant": "double"},
    }
)


async def load_experiment(session: AsyncSession, history_end: datetime) -> None:
    """The audience, the experiment and its treatment rule, started ``RUNNING_FOR`` before
    ``history_end``; once: a rerun leaves them as they are (even if stopped since)."""
    if await session.get(Experiment, EXPERIMENT_ID) is not None:
        return
    if await session.get(Segment, AUDIENCE.id) is None:
        await segments.create(session, AUDIENCE)
    await experiments.create(session, EXPERIMENT)
    if await session.get(Rule, EXPERIMENT_ID) is None:
        await rules.create_rule(session, EXPERIMENT_ID, TREATMENT)
    await experiments.start(session, EXPERIMENT_ID, at=history_end - RUNNING_FOR)


async def store_fit(database: Database, history_end: datetime) -> str | None:
    """Fit predictive CLTV to every purchase before ``history_end`` and store it, with the
    route's defaults; answers why not when the model cannot be fitted (too few customers,
    or not identified on them)."""
    request = CltvFitIn(to=history_end).request(history_end)
    async with database.read_sessionmaker() as read, database.sessionmaker() as session:
        for_aggregates(read)
        try:
            async with session.begin():
                await predictive.refit(read, session, request)
        except Unprocessable as problem:
            return problem.detail
    return None
