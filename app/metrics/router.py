"""The metrics routes: they parse, look the metric up in the registry and call the service."""

from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Path, Query, Request, status
from pydantic import BaseModel

from app.auth.dependencies import RequireScope
from app.auth.scopes import Scope as AuthScope
from app.database import DatabaseDep, ReadSession, Session
from app.errors import Unprocessable, problem_responses
from app.metrics import docs, predictive, rewards, service
from app.metrics.parameters import ActivityDays, From, To
from app.metrics.periods import Period, resolve
from app.metrics.plan import Scope
from app.metrics.predictive import MAX_TOP, PredictiveRequest
from app.metrics.predictive_results import PredictiveCltvResult
from app.metrics.queries.common import By, for_aggregates
from app.metrics.registry import MetricName, PredictiveCltv, metric
from app.metrics.rewards import LiabilityOut, RewardsMetricOut
from app.metrics.schemas import CltvFitIn, MetricOut, PredictiveCltvOut, SummaryOut
from app.models.base import utcnow
from app.rules.schemas import SLUG_PATTERN
from app.segments import service as segments
from app.segments.router import FrequencyDays

router = APIRouter(
    prefix="/v1/metrics",
    tags=["metrics"],
    dependencies=[Depends(RequireScope(AuthScope.metrics_read))],
)

TimeUnit = Literal["day", "week"]


SegmentParam = Annotated[
    str | None,
    Query(
        min_length=1,
        max_length=50,
        pattern=SLUG_PATTERN,
        description="Only a saved segment's members (as they are now): every count of the "
        "answer, numerators, denominators and groups, is over them.",
    ),
]


class RefitMoved(Unprocessable):
    slug = "refit-moved"
    title = "Refitting has a route of its own"


@router.get(
    "",
    response_model=SummaryOut,
    responses=problem_responses(401, 403, 404, 422),
    operation_id="get_metrics_summary",
)
async def get_metrics_summary(
    session: ReadSession,
    request: Request,
    database: DatabaseDep,
    days: FrequencyDays,
    start: From = None,
    end: To = None,
    activity_days: ActivityDays = 90,
    segment: SegmentParam = None,
) -> SummaryOut:
    """Every metric for one window, in one call, with each metric's default parameters.

    `cltv` is the historical method; `cltv_predictive` is the stored predictive fit whose
    window ends at `to` (null when there is none: it is never fitted here), and `cohorts`
    are monthly. With `segment`, every metric but `cltv_predictive` (one fit over every
    customer, null then) is over the segment's members.
    """
    window = resolve(start, end, utcnow())
    customers = None
    if segment is not None:
        customers = await segments.customer_filter(session, segment, days)
    scope = Scope(window, activity_days=activity_days, customers=customers)
    settings = request.app.state.settings
    return await service.summary(
        scope, database, session, settings.point_value, settings.point_value_currency
    )


@router.get(
    "/liability",
    response_model=LiabilityOut,
    responses=problem_responses(401, 403),
    operation_id="get_liability",
)
async def get_liability(session: ReadSession, request: Request) -> LiabilityOut:
    """The points owed now: available and pending, their value at `REINFORCE_POINT_VALUE`
    (in `REINFORCE_POINT_VALUE_CURRENCY`), and what expires in the next 30 and 90 days."""
    settings = request.app.state.settings
    return await rewards.liability(
        session, utcnow(), settings.point_value, settings.point_value_currency
    )


@router.get(
    "/rewards",
    response_model=RewardsMetricOut,
    responses=problem_responses(401, 403, 422),
    operation_id="get_rewards_metric",
)
async def get_rewards_metric(
    session: ReadSession, start: From = None, end: To = None
) -> RewardsMetricOut:
    """Points redeemed by reward over the window's claims; the window's coupons: issued,
    used, expired, void, and the redemption rate (used / issued)."""
    now = utcnow()
    return await rewards.rewards_metric(session, resolve(start, end, now), now)


@router.get(
    "/{name}",
    response_model=MetricOut,
    responses=problem_responses(401, 403, 404, 422),
    description=docs.ENDPOINT,
    operation_id="get_metric",
)
async def get_metric(
    session: ReadSession,
    database: DatabaseDep,
    name: Annotated[MetricName, Path(description="Which metric.")],
    days: FrequencyDays,
    start: From = None,
    end: To = None,
    interval: Annotated[
        Period | None, Query(description="A series: the metric on each day, week or month.")
    ] = None,
    by: Annotated[
        By | None,
        Query(description="A breakdown: `tier` (customer's current tier) or `channel`."),
    ] = None,
    activity_days: ActivityDays = 90,
    method: Annotated[
        Literal["historical", "predictive"], Query(description="cltv: the method.")
    ] = "historical",
    margin: Annotated[float, Query(gt=0, le=1, description="cltv: gross margin applied.")] = 1.0,
    lifespan_years: Annotated[
        float | None,
        Query(
            gt=0,
            le=100,
            description="cltv historical: expected lifespan in years; default: "
            "estimated from the window's retention.",
        ),
    ] = None,
    period: Annotated[
        Literal["week", "month"], Query(description="cohorts: the cohort period.")
    ] = "month",
    time_unit: Annotated[TimeUnit, Query(description="cltv predictive: the model's time unit.")] = (
        "week"
    ),
    horizon_months: Annotated[
        int, Query(ge=0, le=120, description="cltv predictive: months of future purchases.")
    ] = 12,
    discount_rate: Annotated[
        float,
        Query(ge=0, le=1, description="cltv predictive: annual discount rate (0.10 is 10%)."),
    ] = 0.10,
    top: Annotated[
        int, Query(ge=0, le=MAX_TOP, description="cltv predictive: top customers to list.")
    ] = 10,
    refresh: Annotated[
        bool | None,
        Query(
            deprecated=True,
            description="No longer taken: a GET never refits. `POST /v1/metrics/cltv/fits` "
            "refits and stores; any value here is a `422 refit-moved`.",
        ),
    ] = None,
    segment: SegmentParam = None,
) -> BaseModel:
    window = resolve(start, end, utcnow())
    for_aggregates(session)
    chosen = metric(name, method)
    customers = None
    if segment is not None:
        chosen.refuse_segment()
        customers = await segments.customer_filter(session, segment, days)
    if isinstance(chosen, PredictiveCltv):
        chosen.refuse(by, interval)
        if refresh is not None:
            raise RefitMoved(
                "A GET never refits: `POST /v1/metrics/cltv/fits` fits the window and stores "
                "the fit, which later GETs read.",
                extra={"route": "/v1/metrics/cltv/fits"},
            )
        request = PredictiveRequest(
            cohort_start=window.start if start is not None else None,
            end=window.end,
            time_unit=time_unit,
            horizon_months=horizon_months,
            annual_discount_rate=discount_rate,
            margin=margin,
            top=top,
        )
        return _predictive_out(request, await predictive.read(session, request))
    scope = Scope(
        window,
        by=by,
        activity_days=activity_days,
        margin=margin,
        lifespan_years=lifespan_years,
        period=Period(period),
        customers=customers,
    )
    return await service.answer(chosen, scope, interval, database, session)


def _predictive_out(request: PredictiveRequest, result: PredictiveCltvResult) -> PredictiveCltvOut:
    return PredictiveCltvOut.model_validate(
        {**result.model_dump(), "metric": "cltv", "from": request.cohort_start, "to": request.end}
    )


@router.post(
    "/cltv/fits",
    response_model=PredictiveCltvOut,
    status_code=status.HTTP_201_CREATED,
    responses=problem_responses(401, 403, 422),
    operation_id="create_cltv_fit",
)
async def create_cltv_fit(
    body: CltvFitIn, read_session: ReadSession, session: Session
) -> PredictiveCltvOut:
    """Fit predictive CLTV (BG/NBD and Gamma-Gamma) to the window and store the fit.

    It replaces the window's stored fit (one per `from`, `to` and `time_unit`), with every
    customer's predictions: `GET /v1/metrics/cltv?method=predictive` for that window then
    reads it (`cached: true`), the summary shows it, and customers' profiles carry their
    `prediction` from the latest stored fit. Answers as that GET does, with `stored: true`.
    Too little data is a `422 insufficient-data`; a fit that does not identify the model a
    `422 fit-failed`; nothing is stored then.
    """
    request = body.request(utcnow())
    for_aggregates(read_session)
    return _predictive_out(request, await predictive.refit(read_session, session, request))
