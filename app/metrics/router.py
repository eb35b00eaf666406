import asyncio
from collections.abc import Awaitable, Callable
from enum import StrEnum
from functools import partial
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Path, Query
from sqlalchemy.ext.asyncio import AsyncSession

from app.auth.dependencies import RequireScope
from app.auth.scopes import Scope
from app.database import Database, DatabaseDep, ReadSession
from app.errors import problem_responses
from app.metrics import docs, service
from app.metrics.parameters import ActivityDays, From, To
from app.metrics.periods import Period, Window, resolve, split
from app.metrics.predictive import MAX_TOP, PredictiveRequest, cached_answer, predictive
from app.metrics.schemas import MetricOut, SummaryOut
from app.metrics.service import By, Grouped, HistoricalParams, UnsupportedBreakdown
from app.models.base import utcnow

router = APIRouter(
    prefix="/v1/metrics",
    tags=["metrics"],
    dependencies=[Depends(RequireScope(Scope.metrics_read))],
)


class MetricName(StrEnum):
    nps = "nps"
    csat = "csat"
    retention = "retention"
    churn = "churn"
    repeat_purchase_rate = "repeat-purchase-rate"
    referral_rate = "referral-rate"
    cltv = "cltv"
    cohorts = "cohorts"


def _flatten(metric: str, window: Window, result: dict[str, Any]) -> dict[str, Any]:
    return {"metric": metric, "from": window.start, "to": window.end, **result}


def _historical_cltv(
    bought: service.Purchases,
    counts: dict[service.Key, service.Activity],
    window: Window,
    by: By | None,
    historical: HistoricalParams,
) -> Grouped:
    grouped = service.cltv_from(bought, counts, window, by, historical)
    return {key: {"method": "historical", **value} for key, value in grouped.items()}


async def _compute(
    session: AsyncSession,
    database: Database | None,
    name: MetricName,
    window: Window,
    by: By | None,
    historical: HistoricalParams,
    *,
    short: bool = False,
) -> Grouped:
    """One metric, but not cohorts or predictive CLTV; ``short`` for the pieces of a
    repeat-purchase or referral series (``service.activity``). Without ``database`` its
    queries run one after the other. ``historical`` also carries ``activity_days``, which
    every metric but NPS and CSAT reads."""
    activity_days = historical.activity_days
    if name is MetricName.nps:
        return await service.nps(session, window, by)
    if name is MetricName.csat:
        return await service.csat(session, window, by)
    service.refuse_channel(name.value, by)
    if name is MetricName.cltv:
        bought, counts = await _together(
            database,
            session,
            lambda s: service.purchases(s, window, by),
            lambda s: service.activity(s, window, by, activity_days, referrals=False),
        )
        return _historical_cltv(bought, counts, window, by, historical)
    counts = await service.activity(
        session,
        window,
        by,
        activity_days,
        referrals=name is MetricName.referral_rate,
        short=short,
    )
    if name in (MetricName.retention, MetricName.churn):
        return service.retention_from(counts, by, activity_days, churn=name is MetricName.churn)
    if name is MetricName.repeat_purchase_rate:
        return service.repeat_purchase_rate_from(counts, by)
    return service.referral_rate_from(counts, by)


@router.get(
    "",
    response_model=SummaryOut,
    response_model_exclude_none=False,
    responses=problem_responses(401, 403, 422),
)
async def get_summary(
    session: ReadSession,
    database: DatabaseDep,
    start: From = None,
    end: To = None,
    activity_days: ActivityDays = 90,
) -> dict[str, Any]:
    """Every metric for one window, in one call, with each metric's default parameters.

    `cltv` is the historical method; `cltv_predictive` is the cached predictive fit whose
    window ends at `to` (null when there is none: it is never fitted here), and `cohorts`
    are monthly.
    """
    window = resolve(start, end, utcnow())
    historical = HistoricalParams(margin=1.0, lifespan_years=None, activity_days=activity_days)
    counts, cohorts, bought, nps, csat, cached = await _together(
        database,
        session,
        lambda s: service.activity(s, window, None, activity_days, referrals=True),
        lambda s: service.cohorts(s, window, Period.month),
        lambda s: service.purchases(s, window, None),
        lambda s: service.nps(s, window, None),
        lambda s: service.csat(s, window, None),
        lambda s: cached_answer(s, window.end),
    )
    results: dict[MetricName, dict[str, Any]] = {
        MetricName.nps: nps[None],
        MetricName.csat: csat[None],
        MetricName.retention: service.retention_from(counts, None, activity_days)[None],
        MetricName.churn: service.retention_from(counts, None, activity_days, churn=True)[None],
        MetricName.repeat_purchase_rate: service.repeat_purchase_rate_from(counts, None)[None],
        MetricName.referral_rate: service.referral_rate_from(counts, None)[None],
        MetricName.cltv: _historical_cltv(bought, counts, window, None, historical)[None],
        MetricName.cohorts: cohorts,
    }
    metrics: dict[str, dict[str, Any] | None] = {
        name.value: _flatten(name.value, window, results[name]) for name in MetricName
    }
    metrics["cltv_predictive"] = (
        None
        if cached is None
        else {
            "metric": "cltv",
            "method": "predictive",
            **cached,
        }
    )
    return {"from": window.start, "to": window.end, "metrics": metrics}


# How many of a request's independent queries run at once, each on a connection (and a
# read transaction) of its own, so that the answer takes about as long as its slowest
# query rather than their sum. On SQLite too: its readers run in the reader pool's
# threads, and SQLite releases the GIL while it computes (the summary at a million
# events: 1.06 s in turn, 0.68 s this way, on 2 cores).
CONCURRENT_QUERIES = 4


async def _together(
    database: Database | None,
    session: AsyncSession,
    *queries: Callable[[AsyncSession], Awaitable[Any]],
) -> list[Any]:
    """Run the queries concurrently on separate read sessions, set up for aggregates, or
    without ``database`` one after the other on ``session``, which the caller has set up
    (``get_metric``'s own, or one of these)."""
    if database is None:
        return [await query(session) for query in queries]
    limit = asyncio.Semaphore(CONCURRENT_QUERIES)

    async def run(query: Callable[[AsyncSession], Awaitable[Any]]) -> Any:
        async with limit, database.read_sessionmaker() as own:
            service.for_aggregates(own)
            return await query(own)

    try:
        async with asyncio.TaskGroup() as group:
            tasks = [group.create_task(run(query)) for query in queries]
    except ExceptionGroup as failed:
        # Answer as the first failure alone would have (a problem document, a 503), not as
        # an error group, which no handler knows; the other queries were cancelled.
        raise failed.exceptions[0] from None
    return [task.result() for task in tasks]


@router.get(
    "/{name}",
    response_model=MetricOut,
    responses=problem_responses(401, 403, 422),
    description=docs.ENDPOINT,
)
async def get_metric(
    session: ReadSession,
    database: DatabaseDep,
    name: Annotated[MetricName, Path(description="Which metric.")],
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
    margin: Annotated[
        float, Query(gt=0, le=1, description="cltv historical: gross margin applied.")
    ] = 1.0,
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
    time_unit: Annotated[
        Literal["day", "week"], Query(description="cltv predictive: the model's time unit.")
    ] = "week",
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
        bool, Query(description="cltv predictive: refit even when a cached fit exists.")
    ] = False,
) -> dict[str, Any]:
    window = resolve(start, end, utcnow())
    service.for_aggregates(session)
    if interval is not None and by is not None:
        raise UnsupportedBreakdown(
            "Ask for a series (`interval`) or a breakdown (`by`), not both at once.",
            extra={"metric": name.value},
        )
    if name is MetricName.cohorts:
        if interval is not None or by is not None:
            raise UnsupportedBreakdown(
                "`cohorts` is already a matrix over time; it takes `period`, not "
                "`interval` or `by`.",
                extra={"metric": name.value},
            )
        result = await service.cohorts(session, window, Period(period))
        return _flatten(name.value, window, result)

    if name is MetricName.cltv and method == "predictive":
        if interval is not None or by is not None:
            raise UnsupportedBreakdown(
                "Predictive `cltv` is one fit over all customers; it takes neither "
                "`interval` nor `by`.",
                extra={"metric": name.value},
            )
        request = PredictiveRequest(
            cohort_start=window.start if start is not None else None,
            end=window.end,
            time_unit=time_unit,
            horizon_months=horizon_months,
            annual_discount_rate=discount_rate,
            margin=margin,
            top=top,
            refresh=refresh,
        )
        answer = await predictive(session, database, request)
        return {
            "metric": name.value,
            "method": "predictive",
            "from": request.cohort_start,
            "to": window.end,
            **answer,
        }
    historical = HistoricalParams(
        margin=margin, lifespan_years=lifespan_years, activity_days=activity_days
    )
    if interval is None and by is None:
        overall = await _compute(session, database, name, window, None, historical)
        return _flatten(name.value, window, overall[None])

    # NPS and CSAT parts are index range reads of a few milliseconds: a connection each
    # would cost more than it saves.
    concurrently = None if name in (MetricName.nps, MetricName.csat) else database
    if interval is None:
        assert by is not None  # exactly one of the two: checked above
        overall, grouped = await _together(
            concurrently,
            session,
            _part(name, window, None, historical),
            _part(name, window, by, historical),
        )
        answer = _flatten(name.value, window, overall[None])
        answer["by"] = by.value
        answer["groups"] = [
            {"key": key, **value}
            for key, value in sorted(grouped.items(), key=lambda kv: (kv[0] is None, kv[0] or ""))
        ]
        return answer
    pieces = split(window, interval)
    overall, results = await _series(concurrently, session, name, window, pieces, historical)
    answer = _flatten(name.value, window, overall[None])
    answer["interval"] = interval.value
    answer["series"] = [
        {"from": piece.start, "to": piece.end, **grouped[None]}
        for piece, grouped in zip(pieces, results, strict=True)
    ]
    return answer


def _part(
    name: MetricName,
    window: Window,
    by: By | None,
    historical: HistoricalParams,
    short: bool = False,
) -> Callable[[AsyncSession], Awaitable[Grouped]]:
    """``_compute`` as one of the parts `_together` runs: its own queries run in turn, the
    parts, not their queries, share the concurrency."""
    return partial(
        _compute,
        database=None,
        name=name,
        window=window,
        by=by,
        historical=historical,
        short=short,
    )


async def _series(
    database: Database | None,
    session: AsyncSession,
    name: MetricName,
    window: Window,
    pieces: list[Window],
    historical: HistoricalParams,
) -> tuple[Grouped, list[Grouped]]:
    """The metric over the whole window and over each piece of it."""
    activity_days = historical.activity_days
    whole = _part(name, window, None, historical)
    if name not in (MetricName.retention, MetricName.churn, MetricName.cltv):
        # Each piece reads only its own window (no look-back): cheaper than any one pass
        # over all of them.
        overall, *results = await _together(
            database,
            session,
            whole,
            *(_part(name, piece, None, historical, short=True) for piece in pieces),
        )
        return overall, results
    # Every piece's retention (and purchasing customers) in one pass; CLTV's pieces read
    # their purchases alongside it.
    cltv = name is MetricName.cltv
    overall, counted, *bought = await _together(
        database,
        session,
        whole,
        lambda s: service.series_activity(s, pieces, activity_days),
        *(partial(service.purchases, window=piece, by=None) for piece in pieces if cltv),
    )
    if cltv:
        return overall, [
            _historical_cltv(purchases, {None: counts}, piece, None, historical)
            for piece, counts, purchases in zip(pieces, counted, bought, strict=True)
        ]
    churn = name is MetricName.churn
    return overall, [
        service.retention_from({None: counts}, None, activity_days, churn=churn)
        for counts in counted
    ]
