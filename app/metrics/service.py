"""Loyalty metrics as aggregate SQL over the stored events, on SQLite and PostgreSQL.

Every function answers ``{key: result}``: one entry per group of the breakdown (the
customer's current tier, or the event's channel), or the single key ``None`` without one.
A result is a dict ``{value, reason?, ...details}``; ``value`` is ``None`` with a ``reason``
whenever the metric is undefined (nobody to divide by), never NaN.
"""

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, timedelta
from decimal import Decimal
from enum import StrEnum
from typing import Any

from sqlalchemy import and_, case, distinct, exists, func, literal, or_, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import aliased
from sqlalchemy.sql.elements import ColumnElement

from app.errors import Unprocessable
from app.metrics.periods import Period, Window, period_floor, period_start, periods_between
from app.models import Customer, Event, Order, Referral

# A customer is active at an instant when they have one of these in the trailing
# activity window before it.
ACTIVITY_TYPES = ("purchase", "renewal")
DAYS_PER_YEAR = 365.25

Key = str | None
Result = dict[str, Any]
Grouped = dict[Key, Result]


class By(StrEnum):
    channel = "channel"
    tier = "tier"


class UnsupportedBreakdown(Unprocessable):
    slug = "unsupported-breakdown"
    title = "This metric cannot be broken down that way"


def _ratio(numerator: float, denominator: float) -> float | None:
    return None if not denominator else numerator / denominator


def _round(value: float | None, digits: int = 6) -> float | None:
    return None if value is None else round(value, digits)


def _int(value: Any) -> int:
    return int(value or 0)


def _count_if(condition: ColumnElement[bool]) -> ColumnElement[int]:
    return func.coalesce(func.sum(case((condition, 1), else_=0)), 0)


def _in(column: Any, window: Window) -> ColumnElement[bool]:
    return and_(column >= window.start, column < window.end)


def _key(row: Any) -> Key:
    return None if row.key is None else str(row.key)


def _grouped(
    statement: Any, by: By | None, customer_column: Any, channel_column: Any = None
) -> Any:
    """Add the breakdown key (labelled ``key``) to an aggregate statement."""
    if by is None:
        return statement.add_columns(literal(None).label("key"))
    if by is By.channel:
        if channel_column is None:
            raise AssertionError("channel breakdown asked of a customer-level metric")
        return statement.add_columns(channel_column.label("key")).group_by(channel_column)
    return (
        statement.add_columns(Customer.tier.label("key"))
        .join(Customer, Customer.id == customer_column)
        .group_by(Customer.tier)
    )


def refuse_channel(metric: str, by: By | None) -> None:
    if by is By.channel:
        raise UnsupportedBreakdown(
            f"`{metric}` is a customer-level metric and a customer's events span several "
            "channels; break it down by `tier`, or use `nps` or `csat` by channel.",
            extra={"metric": metric, "by": "channel"},
        )


# --- NPS and CSAT -----------------------------------------------------------------------


def _nps_result(responses: int, promoters: int, detractors: int) -> Result:
    passives = responses - promoters - detractors
    value = _ratio(100 * (promoters - detractors), responses)
    result: Result = {
        "value": _round(value, 4),
        "responses": responses,
        "promoters": promoters,
        "passives": passives,
        "detractors": detractors,
    }
    if value is None:
        result["reason"] = "no NPS answers in the window"
    return result


async def nps(session: AsyncSession, window: Window, by: By | None) -> Grouped:
    ranked = (
        select(
            Event.customer_id,
            Event.score,
            Event.channel,
            func.row_number()
            .over(
                partition_by=Event.customer_id,
                order_by=(Event.occurred_at.desc(), Event.id.desc()),
            )
            .label("rank"),
        )
        .where(Event.survey == "nps", Event.type == "feedback", _in(Event.occurred_at, window))
        .subquery()
    )
    statement = select(
        func.count().label("responses"),
        _count_if(ranked.c.score >= 9).label("promoters"),
        _count_if(ranked.c.score <= 6).label("detractors"),
    ).where(ranked.c.rank == 1)
    statement = _grouped(statement, by, ranked.c.customer_id, ranked.c.channel)
    rows = (await session.execute(statement)).all()
    grouped = {
        _key(r): _nps_result(_int(r.responses), _int(r.promoters), _int(r.detractors))
        for r in rows
        if r.responses
    }
    return grouped or ({} if by else {None: _nps_result(0, 0, 0)})


def _csat_result(responses: int, satisfied: int, mean: float | None) -> Result:
    value = _ratio(100 * satisfied, responses)
    result: Result = {
        "value": _round(value, 4),
        "responses": responses,
        "satisfied": satisfied,
        "mean_score": _round(mean, 4) if responses else None,
    }
    if value is None:
        result["reason"] = "no CSAT answers in the window"
    return result


async def csat(session: AsyncSession, window: Window, by: By | None) -> Grouped:
    statement = select(
        func.count().label("responses"),
        _count_if(Event.score >= 4).label("satisfied"),
        func.avg(Event.score).label("mean"),
    ).where(Event.survey == "csat", Event.type == "feedback", _in(Event.occurred_at, window))
    statement = _grouped(statement, by, Event.customer_id, Event.channel)
    rows = (await session.execute(statement)).all()
    grouped = {
        _key(r): _csat_result(
            _int(r.responses), _int(r.satisfied), None if r.mean is None else float(r.mean)
        )
        for r in rows
        if r.responses
    }
    return grouped or ({} if by else {None: _csat_result(0, 0, None)})


# --- Retention and churn ----------------------------------------------------------------


def _retention_result(
    start: int, end: int, retained: int, first_time: int, activity_days: int, churn: bool
) -> Result:
    new = end - retained
    crr = _ratio(end - new, start)
    value = None if crr is None else (1 - crr if churn else crr)
    result: Result = {
        "value": _round(value),
        "active_at_start": start,
        "active_at_end": end,
        "new_in_window": new,
        "first_time_customers": first_time,
        "reactivated_customers": new - first_time,
        "retained": retained,
        "activity_days": activity_days,
    }
    if value is None:
        result["reason"] = "no customer was active at the start of the window"
    return result


async def retention(
    session: AsyncSession, window: Window, by: By | None, activity_days: int, churn: bool = False
) -> Grouped:
    refuse_channel("churn" if churn else "retention", by)
    span = timedelta(days=activity_days)
    per_customer = (
        select(
            Event.customer_id.label("customer_id"),
            func.max(case((Event.occurred_at < window.start, 1), else_=0)).label("s"),
            func.max(case((Event.occurred_at >= window.end - span, 1), else_=0)).label("e"),
        )
        .where(
            Event.type.in_(ACTIVITY_TYPES),
            Event.occurred_at >= window.start - span,
            Event.occurred_at < window.end,
        )
        .group_by(Event.customer_id)
        .subquery()
    )
    earlier = aliased(Event)
    had_earlier_activity = exists().where(
        earlier.customer_id == per_customer.c.customer_id,
        earlier.type.in_(ACTIVITY_TYPES),
        earlier.occurred_at < window.start - span,
    )
    statement = select(
        func.coalesce(func.sum(per_customer.c.s), 0).label("s"),
        func.coalesce(func.sum(per_customer.c.e), 0).label("e"),
        _count_if(and_(per_customer.c.s == 1, per_customer.c.e == 1)).label("retained"),
        _count_if(and_(per_customer.c.s == 0, per_customer.c.e == 1, ~had_earlier_activity)).label(
            "first_time"
        ),
    )
    statement = _grouped(statement, by, per_customer.c.customer_id)
    rows = (await session.execute(statement)).all()
    grouped = {
        _key(r): _retention_result(
            _int(r.s), _int(r.e), _int(r.retained), _int(r.first_time), activity_days, churn
        )
        for r in rows
        if _int(r.s) or _int(r.e)
    }
    return grouped or ({} if by else {None: _retention_result(0, 0, 0, 0, activity_days, churn)})


# --- Repeat purchases and referrals ------------------------------------------------------


def _repeat_result(customers: int, repeaters: int) -> Result:
    value = _ratio(repeaters, customers)
    result: Result = {
        "value": _round(value),
        "purchasing_customers": customers,
        "repeat_customers": repeaters,
    }
    if value is None:
        result["reason"] = "no customer purchased in the window"
    return result


async def repeat_purchase_rate(session: AsyncSession, window: Window, by: By | None) -> Grouped:
    refuse_channel("repeat-purchase-rate", by)
    per_customer = (
        select(Event.customer_id.label("customer_id"), func.count().label("purchases"))
        .where(Event.type == "purchase", _in(Event.occurred_at, window))
        .group_by(Event.customer_id)
        .subquery()
    )
    statement = select(
        func.count().label("customers"),
        _count_if(per_customer.c.purchases >= 2).label("repeaters"),
    )
    statement = _grouped(statement, by, per_customer.c.customer_id)
    rows = (await session.execute(statement)).all()
    grouped = {
        _key(r): _repeat_result(_int(r.customers), _int(r.repeaters)) for r in rows if r.customers
    }
    return grouped or ({} if by else {None: _repeat_result(0, 0)})


def _active_customers(window: Window) -> Any:
    return (
        select(Event.customer_id.label("customer_id"))
        .where(Event.type.in_(ACTIVITY_TYPES), _in(Event.occurred_at, window))
        .group_by(Event.customer_id)
        .subquery()
    )


def _referral_result(active: int, referrers: int, referred: int, purchasers: int) -> Result:
    value = _ratio(referrers, active)
    result: Result = {
        "value": _round(value),
        "active_customers": active,
        "referrers": referrers,
        "referred_customers": referred,
        "referred_purchasers": purchasers,
    }
    if value is None:
        result["reason"] = "no customer was active in the window"
    return result


async def referral_rate(session: AsyncSession, window: Window, by: By | None) -> Grouped:
    refuse_channel("referral-rate", by)
    active = _active_customers(window)
    referred = aliased(Customer)
    # A referral counts when the referred customer had not purchased before it.
    new_referrals = (
        select(
            Referral.referrer_id.label("referrer_id"),
            Referral.referred_customer_id.label("referred_id"),
            referred.first_purchase_at.label("first_purchase_at"),
        )
        .outerjoin(referred, referred.id == Referral.referred_customer_id)
        .where(
            _in(Referral.occurred_at, window),
            or_(
                referred.first_purchase_at.is_(None),
                referred.first_purchase_at >= Referral.occurred_at,
            ),
        )
        .subquery()
    )
    active_counts = _grouped(
        select(func.count().label("active")).select_from(active), by, active.c.customer_id
    )
    referral_counts = _grouped(
        select(
            func.count(distinct(new_referrals.c.referrer_id)).label("referrers"),
            func.count().label("referred"),
            _count_if(new_referrals.c.first_purchase_at < window.end).label("purchasers"),
        )
        .select_from(new_referrals)
        .join(active, active.c.customer_id == new_referrals.c.referrer_id),
        by,
        new_referrals.c.referrer_id,
    )
    actives = {_key(r): _int(r.active) for r in (await session.execute(active_counts)).all()}
    referrals = {_key(r): r for r in (await session.execute(referral_counts)).all()}
    grouped: Grouped = {}
    for key, count in actives.items():
        if not count and by:
            continue
        row = referrals.get(key)
        grouped[key] = _referral_result(
            count,
            _int(row.referrers) if row else 0,
            _int(row.referred) if row else 0,
            _int(row.purchasers) if row else 0,
        )
    return grouped or ({} if by else {None: _referral_result(0, 0, 0, 0)})


# --- Historical CLTV ---------------------------------------------------------------------


@dataclass(frozen=True)
class HistoricalParams:
    margin: float
    lifespan_years: float | None
    activity_days: int


def _historical_result(
    orders: int,
    customers: int,
    revenue: float,
    window: Window,
    params: HistoricalParams,
    retention_value: float | None,
    currencies: Sequence[str],
) -> Result:
    aov = _ratio(revenue, orders)
    per_customer = _ratio(orders, customers)
    frequency = None if per_customer is None else per_customer * DAYS_PER_YEAR / window.days
    lifespan = params.lifespan_years
    reason = None
    lifespan_source = "given" if lifespan is not None else "retention"
    if lifespan is None:
        if retention_value is None:
            reason = "no customer was active at the start of the window to estimate lifespan"
        elif retention_value >= 1:
            reason = "no churn in the window: the lifespan is unbounded; give lifespan_years"
        else:
            annual_retention = retention_value ** (DAYS_PER_YEAR / window.days)
            lifespan = 1 / (1 - annual_retention)
    if aov is None or frequency is None:
        reason = "no purchase in the window"
    value = None
    if reason is None and aov is not None and frequency is not None and lifespan is not None:
        value = aov * frequency * lifespan * params.margin
    result: Result = {
        "value": _round(value, 4),
        "average_order_value": _round(aov, 4),
        "purchase_frequency_per_year": _round(frequency),
        "lifespan_years": _round(lifespan),
        "lifespan_source": lifespan_source,
        "retention": _round(retention_value),
        "margin": params.margin,
        "orders": orders,
        "customers": customers,
        "revenue": _round(revenue, 4),
        "currencies": list(currencies),
    }
    if reason:
        result["reason"] = reason
    return result


async def cltv_historical(
    session: AsyncSession, window: Window, by: By | None, params: HistoricalParams
) -> Grouped:
    refuse_channel("cltv", by)
    statement = (
        select(
            func.count().label("orders"),
            func.count(distinct(Event.customer_id)).label("customers"),
            func.coalesce(func.sum(Order.amount - Order.refunded_amount), 0).label("revenue"),
        )
        .select_from(Event)
        .join(Order, Order.id == Event.order_id)
        .where(Event.type == "purchase", _in(Event.occurred_at, window))
    )
    rows = (await session.execute(_grouped(statement, by, Event.customer_id))).all()
    currencies = (
        await session.scalars(
            select(Event.currency)
            .where(Event.type == "purchase", _in(Event.occurred_at, window))
            .distinct()
        )
    ).all()
    retained = await retention(session, window, by, params.activity_days)
    grouped: Grouped = {}
    for r in rows:
        if not r.orders and by:
            continue
        key = _key(r)
        grouped[key] = _historical_result(
            _int(r.orders),
            _int(r.customers),
            float(Decimal(r.revenue or 0)),
            window,
            params,
            retained.get(key, {}).get("value"),
            sorted(c for c in currencies if c),
        )
    return grouped


# --- Cohorts -------------------------------------------------------------------------------


async def cohorts(session: AsyncSession, window: Window, period: Period) -> Result:
    dialect = session.get_bind().dialect.name
    cohort = period_start(Customer.first_purchase_at, period, dialect)
    sizes_statement = (
        select(cohort.label("cohort"), func.count().label("size"))
        .where(_in(Customer.first_purchase_at, window))
        .group_by(cohort)
    )
    activity = period_start(Event.occurred_at, period, dialect)
    active_statement = (
        select(
            cohort.label("cohort"),
            activity.label("period"),
            func.count(distinct(Event.customer_id)).label("active"),
        )
        .select_from(Event)
        .join(Customer, Customer.id == Event.customer_id)
        .where(
            Event.type == "purchase",
            _in(Customer.first_purchase_at, window),
            _in(Event.occurred_at, window),
        )
        .group_by(cohort, activity)
    )
    sizes = {str(r.cohort): _int(r.size) for r in (await session.execute(sizes_statement)).all()}
    active: dict[tuple[str, int], int] = {}
    for r in (await session.execute(active_statement)).all():
        k = periods_between(date.fromisoformat(r.cohort), date.fromisoformat(r.period), period)
        active[(str(r.cohort), k)] = _int(r.active)
    last = period_start_date(window, period)
    matrix = []
    followed = 0
    retained_at_one = 0
    for label in sorted(sizes):
        size = sizes[label]
        observed = periods_between(date.fromisoformat(label), last, period) + 1
        counts = [active.get((label, k), 0) for k in range(observed)]
        matrix.append(
            {
                "cohort": label,
                "size": size,
                "active": counts,
                "share_active": [round(c / size, 6) for c in counts],
            }
        )
        if observed > 1:
            followed += size
            retained_at_one += counts[1]
    value = _ratio(retained_at_one, followed)
    result: Result = {
        "value": _round(value),
        "period": period.value,
        "cohort_basis": "first_purchase",
        "cohorts": matrix,
    }
    if value is None:
        result["reason"] = (
            "no cohort acquired in the window" if not sizes else "no cohort has a period 1 yet"
        )
    return result


def period_start_date(window: Window, period: Period) -> date:
    """The start of the period holding the window's last instant."""
    return period_floor(window.end - timedelta(microseconds=1), period).date()
