"""The reports routes: aggregates over events, the ledger and customers for the dashboard
(and any other reader holding `metrics:read`)."""

from typing import Annotated

from fastapi import APIRouter, Depends, Query

from app.auth.dependencies import RequireScope
from app.auth.scopes import Scope
from app.database import ReadSession
from app.errors import problem_responses
from app.metrics.parameters import From, To
from app.metrics.periods import resolve
from app.models.base import utcnow
from app.reports import calibration, service, value
from app.reports.schemas import (
    EventsPerDayOut,
    PointsPerWeekOut,
    RuleActivityOut,
    TierDistributionOut,
)

router = APIRouter(
    prefix="/v1/reports",
    tags=["reports"],
    dependencies=[Depends(RequireScope(Scope.metrics_read))],
)


@router.get(
    "/events-per-day",
    response_model=EventsPerDayOut,
    responses=problem_responses(401, 403, 422),
)
async def get_events_per_day(
    session: ReadSession, start: From = None, end: To = None
) -> EventsPerDayOut:
    """Events per UTC day and type in the window (at most 400 days: a longer one is a
    `422 too-many-periods`)."""
    window = resolve(start, end, utcnow())
    days = await service.events_per_day(session, window)
    return EventsPerDayOut(from_=window.start, to=window.end, days=days)


@router.get(
    "/points-per-week",
    response_model=PointsPerWeekOut,
    responses=problem_responses(401, 403, 422),
)
async def get_points_per_week(
    session: ReadSession, start: From = None, end: To = None
) -> PointsPerWeekOut:
    """Points issued, redeemed and expired per ISO week of the window (at most 400 weeks),
    and the outstanding points liability now."""
    window = resolve(start, end, utcnow())
    weeks = await service.points_per_week(session, window)
    return PointsPerWeekOut(
        from_=window.start, to=window.end, weeks=weeks, liability=await service.liability(session)
    )


@router.get("/tiers", response_model=TierDistributionOut, responses=problem_responses(401, 403))
async def get_tier_distribution(session: ReadSession) -> TierDistributionOut:
    """Customers by their current tier."""
    tiers = await service.tiers(session)
    return TierDistributionOut(tiers=tiers, customers=sum(t.customers for t in tiers))


@router.get(
    "/rules",
    response_model=RuleActivityOut,
    responses=problem_responses(401, 403, 422),
)
async def get_rule_activity(
    session: ReadSession, start: From = None, end: To = None
) -> RuleActivityOut:
    """Each rule's point credits in the window: how many, how many points, to how many
    customers. Rule names and documents: `GET /v1/rules`."""
    window = resolve(start, end, utcnow())
    rules = await service.rule_activity(session, window)
    return RuleActivityOut(from_=window.start, to=window.end, rules=rules)


@router.get(
    "/cltv-distribution",
    response_model=value.CltvDistributionOut,
    responses=problem_responses(401, 403, 404, 422),
)
async def get_cltv_distribution(
    session: ReadSession,
    bins: Annotated[int, Query(ge=1, le=value.MAX_BINS, description="How many bins.")] = 20,
) -> value.CltvDistributionOut:
    """How predicted CLTV is spread over the customers of the latest stored fit
    (`POST /v1/metrics/cltv/fits`); none stored is a `404 no-stored-fit`."""
    return await value.distribution(session, bins)


@router.get(
    "/at-risk",
    response_model=value.AtRiskOut,
    responses=problem_responses(401, 403, 404, 422),
)
async def get_customers_at_risk(
    session: ReadSession,
    limit: Annotated[int, Query(ge=1, le=value.MAX_AT_RISK, description="How many.")] = 20,
    max_p_alive: Annotated[
        float, Query(gt=0, le=1, description="Only customers with P(alive) below this.")
    ] = 0.5,
) -> value.AtRiskOut:
    """Valuable customers the latest stored fit thinks are slipping away: P(alive) below
    `max_p_alive`, highest spend so far first. None stored is a `404 no-stored-fit`."""
    return await value.at_risk(session, limit, max_p_alive)


@router.get(
    "/cltv-calibration",
    response_model=calibration.CalibrationOut,
    responses=problem_responses(401, 403, 422),
)
async def get_cltv_calibration(
    session: ReadSession,
    end: To = None,
    holdout_weeks: Annotated[
        int, Query(ge=1, le=104, description="The holdout: the weeks before `to`.")
    ] = 13,
) -> calibration.CalibrationOut:
    """BG/NBD fitted on the purchases before `to` minus the holdout, its predicted repeat
    transactions in the holdout beside the observed ones, by frequency before the cut.
    Nothing is stored. Too little data is a `422 insufficient-data`, a fit that does not
    identify the model a `422 fit-failed`."""
    window = resolve(None, end, utcnow())
    return await calibration.calibration(session, window.end, holdout_weeks)
