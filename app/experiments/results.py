"""An experiment's results: each exposed customer's outcomes, read in three set-based
statements, then the statistics of ``stats`` per variant against the control.

Each customer is measured over ``[exposed_at, to)``, where ``to`` is the stop (or now):

- repeat-purchase rate: share of customers with at least 2 purchases;
- retention: share with an activity (purchase or renewal) in the last ``retention_days``
  days before ``to``;
- referral rate: share who referred at least one customer;
- revenue per customer: purchases minus refunds; orders per customer: purchases;
- points cost per customer: points earned (ledger ``earn`` entries);
- net revenue per customer: revenue - points cost * ``point_value``.

The CUPED covariate is each customer's purchases in the ``pre_period_days`` before the start.

``stats`` (numpy and scipy) is imported when results are computed, as the predictive fit
does: they are most of a worker's memory at startup, and every worker imports this module.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from sqlalchemy import and_, case, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from app.experiments.schemas import (
    PROPORTIONS,
    Estimate,
    ExperimentMetric,
    MetricResult,
    ResultsOut,
    SampleRatio,
    VariantResult,
    variants_of,
)
from app.models import EntryKind, Event, Experiment, ExperimentExposure, LedgerEntry
from app.models.base import utcnow

if TYPE_CHECKING:
    from app.experiments import stats

X = ExperimentExposure
# Below this, the sample-ratio check flags a mismatch.
SRM_THRESHOLD = 0.001


@dataclass
class Outcome:
    variant: str
    orders: int = 0
    revenue: float = 0.0
    referrals: int = 0
    recent: int = 0
    points: int = 0
    pre_spend: float = 0.0
    would_have: dict[str, Any] = field(default_factory=dict)

    def value(self, metric: ExperimentMetric, point_value: float) -> float:
        if metric is ExperimentMetric.repeat_purchase_rate:
            return float(self.orders >= 2)
        if metric is ExperimentMetric.retention:
            return float(self.recent > 0)
        if metric is ExperimentMetric.referral_rate:
            return float(self.referrals > 0)
        if metric is ExperimentMetric.revenue_per_customer:
            return self.revenue
        if metric is ExperimentMetric.orders_per_customer:
            return float(self.orders)
        if metric is ExperimentMetric.points_cost_per_customer:
            return float(self.points)
        return self.revenue - self.points * point_value


def _count(condition: Any) -> Any:
    return func.coalesce(func.sum(case((condition, 1), else_=0)), 0)


def _amount(condition: Any) -> Any:
    return func.coalesce(func.sum(case((condition, Event.amount), else_=0)), 0)


async def outcomes(
    session: AsyncSession, experiment: Experiment, to: datetime, retention_days: int
) -> dict[str, Outcome]:
    exposed = X.experiment_id == experiment.id
    found = {
        row.customer_id: Outcome(row.variant, would_have=row.would_have)
        for row in await session.execute(
            select(X.customer_id, X.variant, X.would_have).where(exposed)
        )
    }
    if not found:
        return found
    retained_from = to - timedelta(days=retention_days)
    during = and_(
        Event.customer_id == X.customer_id,
        Event.occurred_at >= X.exposed_at,
        Event.occurred_at < to,
    )
    measured = (
        select(
            X.customer_id,
            _count(Event.type == "purchase"),
            _amount(Event.type == "purchase"),
            _amount(Event.type == "refund"),
            _count(Event.type == "referral"),
            _count(
                and_(Event.type.in_(["purchase", "renewal"]), Event.occurred_at >= retained_from)
            ),
        )
        .join(Event, during)
        .where(exposed)
        .group_by(X.customer_id)
    )
    for row in await session.execute(measured):
        outcome = found[row[0]]
        outcome.orders, outcome.referrals, outcome.recent = int(row[1]), int(row[4]), int(row[5])
        outcome.revenue = float(row[2]) - float(row[3])
    earned = (
        select(X.customer_id, func.coalesce(func.sum(LedgerEntry.points), 0))
        .join(
            LedgerEntry,
            and_(
                LedgerEntry.customer_id == X.customer_id,
                LedgerEntry.kind == EntryKind.earn.value,
                LedgerEntry.occurred_at >= X.exposed_at,
                LedgerEntry.occurred_at < to,
            ),
        )
        .where(exposed)
        .group_by(X.customer_id)
    )
    for row in await session.execute(earned):
        found[row[0]].points = int(row[1])
    assert experiment.started_at is not None
    since = experiment.started_at - timedelta(days=experiment.pre_period_days)
    before = (
        select(X.customer_id, _amount(Event.type == "purchase"))
        .join(
            Event,
            and_(
                Event.customer_id == X.customer_id,
                Event.type == "purchase",
                Event.occurred_at >= since,
                Event.occurred_at < experiment.started_at,
            ),
        )
        .where(exposed)
        .group_by(X.customer_id)
    )
    for row in await session.execute(before):
        found[row[0]].pre_spend = float(row[1])
    return found


def _would_have(arm: list[Outcome], variants: list[tuple[str, int]]) -> dict[str, float]:
    totals: dict[str, float] = {}
    for variant_id, _ in variants:
        points = [o.would_have.get(variant_id, {}).get("points", 0) for o in arm]
        if any(points):
            totals[variant_id] = sum(points) / len(arm)
    return totals


def _estimate(comparison: stats.Comparison, method: Any) -> Estimate:
    return Estimate(
        value=comparison.value,
        difference=comparison.difference,
        relative_difference=comparison.relative_difference,
        ci_low=comparison.ci_low,
        ci_high=comparison.ci_high,
        p_value=comparison.p_value,
        method=method,
    )


def _metric(
    metric: ExperimentMetric, control: list[Outcome], arm: list[Outcome], point_value: float
) -> MetricResult:
    from app.experiments import stats

    ys_c = [o.value(metric, point_value) for o in control]
    ys_v = [o.value(metric, point_value) for o in arm]
    if metric in PROPORTIONS:
        comparison = stats.proportions((int(sum(ys_c)), len(ys_c)), (int(sum(ys_v)), len(ys_v)))
        return MetricResult(
            metric=metric,
            kind="proportion",
            estimate=_estimate(comparison, "two-proportion z-test"),
        )
    adjusted = stats.cuped(
        (ys_c, [o.pre_spend for o in control]), (ys_v, [o.pre_spend for o in arm])
    )
    return MetricResult(
        metric=metric,
        kind="mean",
        estimate=_estimate(stats.means(ys_c, ys_v), "welch t-test"),
        cuped=_estimate(adjusted, "welch t-test"),
    )


async def results(session: AsyncSession, experiment: Experiment, retention_days: int) -> ResultsOut:
    to = experiment.stopped_at or utcnow()
    variants = variants_of(experiment.variants)
    by_variant: dict[str, list[Outcome]] = defaultdict(list)
    if experiment.started_at is not None:
        for outcome in (await outcomes(session, experiment, to, retention_days)).values():
            by_variant[outcome.variant].append(outcome)
    control = by_variant[variants[0][0]]
    answers = [
        VariantResult(
            variant=variant_id,
            weight=weight,
            exposed=len(by_variant[variant_id]),
            metrics=[
                _metric(metric, control, by_variant[variant_id], experiment.point_value)
                for metric in ExperimentMetric
            ],
            would_have_points_per_customer=_would_have(by_variant[variant_id], variants),
        )
        for variant_id, weight in variants
    ]
    from app.experiments import stats

    srm = stats.sample_ratio([a.exposed for a in answers], [w for _, w in variants])
    return ResultsOut(
        experiment_id=experiment.id,
        status=experiment.status,
        from_=experiment.started_at,
        to=to,
        primary_metric=ExperimentMetric(experiment.primary_metric),
        guardrails=[ExperimentMetric(g) for g in experiment.guardrails],
        retention_days=retention_days,
        point_value=experiment.point_value,
        variants=answers,
        sample_ratio=SampleRatio(p_value=srm, mismatch=srm is not None and srm < SRM_THRESHOLD),
    )
