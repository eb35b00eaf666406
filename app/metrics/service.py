"""Loyalty metrics as aggregate SQL over the stored events, on SQLite and PostgreSQL.

Every function answers ``{key: result}``: one entry per group of the breakdown (the
customer's current tier, or the event's channel), or the single key ``None`` without one.
A result is a dict ``{value, reason?, ...details}``; ``value`` is ``None`` with a ``reason``
whenever the metric is undefined (nobody to divide by), never NaN.
"""

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal
from enum import StrEnum
from itertools import accumulate
from typing import Any

from sqlalchemy import (
    Connection,
    and_,
    case,
    event,
    exists,
    func,
    literal,
    literal_column,
    or_,
    select,
)
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import aliased
from sqlalchemy.sql.elements import ColumnElement

from app.errors import Unprocessable
from app.metrics.periods import (
    Period,
    Window,
    period_bucket,
    period_floor,
    period_label,
    period_next,
    periods_between,
)
from app.models import Customer, Event, Order, Referral
from app.models.event import ACTIVITY_TYPES

DAYS_PER_YEAR = 365.25
# PostgreSQL's work_mem for the metrics' transactions (per sort or hash of a query); the
# default 4 MB spills the per-customer aggregates of a year of 100,000 customers to disk.
AGGREGATE_WORK_MEM = "32MB"

Key = str | None
Result = dict[str, Any]
Grouped = dict[Key, Result]


class By(StrEnum):
    channel = "channel"
    tier = "tier"


class UnsupportedBreakdown(Unprocessable):
    slug = "unsupported-breakdown"
    title = "This metric cannot be broken down that way"


def for_aggregates(session: AsyncSession) -> None:
    """Set up the transactions of a new session for the metrics' aggregate queries.

    On PostgreSQL: no JIT, whose compilation of these plans (inlining and optimising some
    60 functions) took 2-3 s, longer than the queries; and room for hashing every customer
    of a window in memory rather than in batches on disk. ``SET LOCAL`` lasts until the end
    of the transaction, so pooled connections are unaffected. The settings are sent when a
    transaction begins, so that a request whose queries all run on sessions of their own
    takes no connection for the one it was given.
    """
    if session.get_bind().dialect.name != "postgresql":
        return

    def set_up(_session: Any, _transaction: Any, connection: Connection) -> None:
        connection.exec_driver_sql("SET LOCAL jit = off")
        connection.exec_driver_sql(f"SET LOCAL work_mem = '{AGGREGATE_WORK_MEM}'")

    event.listen(session.sync_session, "after_begin", set_up)


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


# --- Customer activity: retention, churn, repeat purchases and referrals ------------------
#
# These four read the same thing, each customer's purchases and renewals around the window,
# so one aggregate grouped by customer answers them all (the summary runs it once).


@dataclass(frozen=True)
class Activity:
    """Counts over the customers with a purchase or renewal in [from - activity_days, to)."""

    active_at_start: int  # S
    active_at_end: int  # E
    retained: int  # active at both instants
    first_time: int  # active at `to`, with no activity ever before `from - activity_days`
    active_in_window: int
    purchasing: int  # with a purchase in the window
    repeating: int  # with 2 or more
    referrers: int  # active in the window, who referred a new customer in it
    referred: int  # the new customers those referred
    referred_purchasers: int  # of whom purchased before `to`


def _new_referrals(window: Window) -> Any:
    """Per referrer: the new customers referred in the window, and how many purchased."""
    referred = aliased(Customer)
    # A referral counts when the referred customer had not purchased before it.
    return (
        select(
            Referral.referrer_id.label("referrer_id"),
            func.count().label("referred"),
            _count_if(referred.first_purchase_at < window.end).label("purchasers"),
        )
        .outerjoin(referred, referred.id == Referral.referred_customer_id)
        .where(
            _in(Referral.occurred_at, window),
            or_(
                referred.first_purchase_at.is_(None),
                referred.first_purchase_at >= Referral.occurred_at,
            ),
        )
        .group_by(Referral.referrer_id)
        .subquery()
    )


def _is_activity() -> ColumnElement[bool]:
    """The activity index's predicate, with literals, so that SQLite can use the index."""
    return Event.type.in_([literal_column(f"'{kind}'") for kind in ACTIVITY_TYPES])


async def activity(
    session: AsyncSession,
    window: Window,
    by: By | None,
    activity_days: int,
    *,
    referrals: bool,
    short: bool = False,
) -> dict[Key, Activity]:
    """The ``Activity`` counts (the referral ones stay 0 without ``referrals``).

    By default, one pass over every customer's activity up to ``to``, in the activity
    index's order (customer, time), so that grouping by customer needs no sort; the same
    pass finds each customer's first activity ever, which tells first-time from returning
    customers. Its cost follows the activity history rather than the window: a year of a
    million events is about 0.35 s on SQLite and 0.2 s on PostgreSQL (bench/README.md).

    ``short`` is for the pieces of a series, where that pass would cost as much per piece
    as for the whole history: read only the window (sorted or hashed by customer) and
    leave the retention counts at 0; ``series_activity`` counts them for every piece at
    once.
    """
    span = timedelta(days=activity_days)
    purchase_in_window = and_(Event.type == "purchase", Event.occurred_at >= window.start)
    scanned = [_is_activity(), Event.occurred_at < window.end]
    zero = literal(0)
    at_start: ColumnElement[int] = func.max(
        case((_in(Event.occurred_at, Window(window.start - span, window.start)), 1), else_=0)
    )
    at_end: ColumnElement[int] = func.max(
        case((Event.occurred_at >= window.end - span, 1), else_=0)
    )
    if short:
        scanned.append(Event.occurred_at >= window.start)
        at_start = at_end = zero
    per_customer = (
        select(
            Event.customer_id.label("customer_id"),
            at_start.label("s"),
            at_end.label("e"),
            func.max(case((Event.occurred_at >= window.start, 1), else_=0)).label("active"),
            _count_if(purchase_in_window).label("purchases"),
            func.min(Event.occurred_at).label("first_at"),
        )
        .where(*scanned)
        .group_by(Event.customer_id)
        .subquery()
    )
    # Active at `to` and not at `from`, with no activity at all before `from - span`.
    first_time = _count_if(
        and_(
            per_customer.c.s == 0,
            per_customer.c.e == 1,
            per_customer.c.first_at >= window.start - span,
        )
    )
    referring: ColumnElement[bool] = literal(False)
    referred: Any = zero
    purchasers: Any = zero
    if referrals:
        new_referrals = _new_referrals(window)
        referring = and_(per_customer.c.active == 1, new_referrals.c.referred.is_not(None))
        referred = new_referrals.c.referred
        purchasers = new_referrals.c.purchasers
    statement = select(
        func.coalesce(func.sum(per_customer.c.s), 0).label("s"),
        func.coalesce(func.sum(per_customer.c.e), 0).label("e"),
        _count_if(and_(per_customer.c.s == 1, per_customer.c.e == 1)).label("retained"),
        first_time.label("first_time"),
        func.coalesce(func.sum(per_customer.c.active), 0).label("active"),
        _count_if(per_customer.c.purchases >= 1).label("purchasing"),
        _count_if(per_customer.c.purchases >= 2).label("repeating"),
        _count_if(referring).label("referrers"),
        func.coalesce(func.sum(case((referring, referred), else_=0)), 0).label("referred"),
        func.coalesce(func.sum(case((referring, purchasers), else_=0)), 0).label("purchasers"),
    ).select_from(per_customer)
    if referrals:
        statement = statement.outerjoin(
            new_referrals, new_referrals.c.referrer_id == per_customer.c.customer_id
        )
    statement = _grouped(statement, by, per_customer.c.customer_id)
    return {
        _key(r): Activity(
            active_at_start=_int(r.s),
            active_at_end=_int(r.e),
            retained=_int(r.retained),
            first_time=_int(r.first_time),
            active_in_window=_int(r.active),
            purchasing=_int(r.purchasing),
            repeating=_int(r.repeating),
            referrers=_int(r.referrers),
            referred=_int(r.referred),
            referred_purchasers=_int(r.purchasers),
        )
        for r in (await session.execute(statement)).all()
    }


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


def retention_from(
    counts: dict[Key, Activity], by: By | None, activity_days: int, churn: bool = False
) -> Grouped:
    grouped = {
        key: _retention_result(
            a.active_at_start, a.active_at_end, a.retained, a.first_time, activity_days, churn
        )
        for key, a in counts.items()
        if a.active_at_start or a.active_at_end
    }
    return grouped or ({} if by else {None: _retention_result(0, 0, 0, 0, activity_days, churn)})


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


def repeat_purchase_rate_from(counts: dict[Key, Activity], by: By | None) -> Grouped:
    grouped = {
        key: _repeat_result(a.purchasing, a.repeating) for key, a in counts.items() if a.purchasing
    }
    return grouped or ({} if by else {None: _repeat_result(0, 0)})


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


def referral_rate_from(counts: dict[Key, Activity], by: By | None) -> Grouped:
    grouped = {
        key: _referral_result(a.active_in_window, a.referrers, a.referred, a.referred_purchasers)
        for key, a in counts.items()
        if a.active_in_window or not by
    }
    return grouped or ({} if by else {None: _referral_result(0, 0, 0, 0)})


def _rank(column: Any, thresholds: Sequence[Any], offset: int = 0) -> ColumnElement[int]:
    """SQL for how many of the (sorted) thresholds are at or before ``column``: a binary
    search of nested CASEs, so a row costs log2(thresholds) comparisons, on any dialect."""
    if not thresholds:
        return literal(offset)
    middle = len(thresholds) // 2
    return case(
        (
            column >= thresholds[middle],
            _rank(column, thresholds[middle + 1 :], offset + middle + 1),
        ),
        else_=_rank(column, thresholds[:middle], offset),
    )


async def series_activity(
    session: AsyncSession, pieces: Sequence[Window], activity_days: int
) -> list[Activity]:
    """The retention counts (S, E, retained, first-time) and purchasing customers of each
    piece of a series (the other counts stay 0), in one pass rather than one query per
    piece (a weekly retention series of a year of a million events: 0.7 s on PostgreSQL
    and 2 s on SQLite, against 3 s and 6-9 s with one query per piece).

    With boundaries b_0 < ... < b_n (the pieces' ends), a customer is active at b_j when
    their last activity before it is at or after b_j - activity_days. Each customer's
    activity is grouped by piece (p = -1 before b_0); the group of piece p, whose last
    activity is covered up to boundary hi, decides boundaries p+1 to the next group's
    piece, so the boundaries a customer is active at are the disjoint ranges
    [p+1, min(hi, next p)]. A customer is active at both ends of piece i when one range
    holds i and i+1, or one ends at i and the next starts at i+1; first-time in piece i
    when their first group ever is piece i and covers b_{i+1}; purchasing in piece i when
    their group of piece i has a purchase. The database counts the groups per (range,
    joined to next, first-time, purchasing); the counts per boundary and piece are summed
    here from those few hundred rows.
    """
    span = timedelta(days=activity_days)
    ends = [pieces[0].start, *(piece.end for piece in pieces)]
    n = len(pieces)
    # The piece of each activity: how many pieces start at or before it, less one.
    in_piece = (
        select(
            Event.customer_id.label("customer_id"),
            (_rank(Event.occurred_at, ends[:n]) - 1).label("p"),
            Event.occurred_at.label("occurred_at"),
            Event.type.label("type"),
        )
        .where(_is_activity(), Event.occurred_at < ends[n])
        .subquery()
    )
    # The last boundary each piece's last activity keeps its customer active at.
    per_piece = (
        select(
            in_piece.c.customer_id,
            in_piece.c.p,
            (_rank(func.max(in_piece.c.occurred_at), [end - span for end in ends]) - 1).label("hi"),
            _count_if(in_piece.c.type == "purchase").label("purchases"),
        )
        .group_by(in_piece.c.customer_id, in_piece.c.p)
        .subquery()
    )

    def by_customer(function: Any) -> Any:
        return function.over(partition_by=per_piece.c.customer_id, order_by=per_piece.c.p)

    ranged = select(
        per_piece.c.p,
        per_piece.c.hi,
        by_customer(func.lead(per_piece.c.p, 1, n)).label("next_p"),
        by_customer(func.lead(per_piece.c.hi)).label("next_hi"),
        by_customer(func.lag(per_piece.c.p)).label("previous_p"),
        per_piece.c.purchases,
    ).subquery()
    last = case((ranged.c.hi < ranged.c.next_p, ranged.c.hi), else_=ranged.c.next_p)
    joined = and_(ranged.c.hi >= ranged.c.next_p, ranged.c.next_hi >= ranged.c.next_p + 1)
    first_time = and_(ranged.c.previous_p.is_(None), ranged.c.p >= 0, ranged.c.hi >= ranged.c.p + 1)
    keyed = select(
        (ranged.c.p + 1).label("first"),
        last.label("last"),
        case((joined, 1), else_=0).label("joined"),
        case((first_time, 1), else_=0).label("first_time"),
        case((ranged.c.purchases >= 1, 1), else_=0).label("purchasing"),
    ).subquery()
    rows = await session.execute(select(keyed, func.count().label("customers")).group_by(*keyed.c))
    # Ranges are added as differences (+c where one starts, -c past its end) and summed
    # once: a daily series has tens of thousands of rows, each spanning up to
    # activity_days boundaries.
    active_changes = [0] * (n + 2)
    retained_changes = [0] * (n + 1)
    first_timers = [0] * n
    purchasing = [0] * n
    for row in rows:
        if row.purchasing and row.first >= 1:  # p = -1 is the history before b_0
            purchasing[row.first - 1] += row.customers
        if row.first_time:
            first_timers[row.first - 1] += row.customers
        first = max(row.first, 0)
        if first <= min(row.last, n):  # boundaries first..last
            active_changes[first] += row.customers
            active_changes[min(row.last, n) + 1] -= row.customers
        if first < min(row.last + row.joined, n):  # pieces first..last + joined - 1
            retained_changes[first] += row.customers
            retained_changes[min(row.last + row.joined, n)] -= row.customers
    active = list(accumulate(active_changes))
    retained = list(accumulate(retained_changes))
    return [
        Activity(
            active_at_start=active[i],
            active_at_end=active[i + 1],
            retained=retained[i],
            first_time=first_timers[i],
            active_in_window=0,
            purchasing=purchasing[i],
            repeating=0,
            referrers=0,
            referred=0,
            referred_purchasers=0,
        )
        for i in range(n)
    ]


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


@dataclass(frozen=True)
class Purchases:
    """The window's purchases, per breakdown key: what historical CLTV is computed from."""

    grouped: dict[Key, tuple[int, float]]  # orders, revenue net of refunds
    currencies: list[str]


async def purchases(session: AsyncSession, window: Window, by: By | None) -> Purchases:
    # Every stored purchase event has its order, for the same amount (ingest records both in
    # one transaction and refuses a second purchase of an order), so the window's revenue is
    # the events' amounts, read from the purchase index, less the refunds of their orders,
    # read from the small index of refunded orders. Joining every purchase to its order row
    # instead was most of this metric's time.
    in_window = (Event.type == "purchase", _in(Event.occurred_at, window))
    # The purchasing customers are counted by `activity`, which groups by customer anyway;
    # grouping by currency lists the currencies in the same pass.
    totals = (
        select(
            Event.currency.label("currency"),
            func.count().label("orders"),
            func.coalesce(func.sum(Event.amount), 0).label("revenue"),
        )
        .where(*in_window)
        .group_by(Event.currency)
    )
    if by is not None and session.get_bind().dialect.name == "sqlite":
        # SQLite joins by nested loop, one customer lookup per purchase: group per customer
        # first, then look up each customer once (1.3 s -> 0.5 s at a million events).
        # PostgreSQL hashes the customers instead, which is faster than grouping first.
        per_customer = totals.add_columns(Event.customer_id).group_by(Event.customer_id).subquery()
        totals = select(
            per_customer.c.currency,
            func.sum(per_customer.c.orders).label("orders"),
            func.sum(per_customer.c.revenue).label("revenue"),
        ).group_by(per_customer.c.currency)
        totals_customer: Any = per_customer.c.customer_id
    else:
        totals_customer = Event.customer_id
    # The literal 0 (not a bound parameter) lets SQLite match the partial index's predicate;
    # EXISTS rather than a join keeps SQLite from driving the join from the purchases.
    refunds = (
        select(func.coalesce(func.sum(Order.refunded_amount), 0).label("refunded"))
        .select_from(Order)
        .where(
            Order.refunded_amount > literal_column("0"),
            exists().where(Event.id == Order.purchase_event_id, *in_window),
        )
    )
    refunded = {
        _key(r): Decimal(r.refunded or 0)
        for r in (await session.execute(_grouped(refunds, by, Order.customer_id))).all()
    }
    orders: dict[Key, int] = {}
    revenue: dict[Key, Decimal] = {}
    currencies: set[str] = set()
    for r in (await session.execute(_grouped(totals, by, totals_customer))).all():
        key = _key(r)
        orders[key] = orders.get(key, 0) + _int(r.orders)
        revenue[key] = revenue.get(key, Decimal(0)) + Decimal(r.revenue or 0)
        if r.currency and r.orders:
            currencies.add(r.currency)
    if not orders and by is None:
        orders[None], revenue[None] = 0, Decimal(0)
    return Purchases(
        grouped={
            key: (orders[key], float(revenue[key] - refunded.get(key, Decimal(0))))
            for key in orders
        },
        currencies=sorted(currencies),
    )


def cltv_from(
    bought: Purchases,
    counts: dict[Key, Activity],
    window: Window,
    by: By | None,
    params: HistoricalParams,
) -> Grouped:
    """Historical CLTV from the window's purchases and activity (same breakdown)."""
    retained = retention_from(counts, by, params.activity_days)
    grouped: Grouped = {}
    for key, (orders, revenue) in bought.grouped.items():
        if not orders and by:
            continue
        customers = counts[key].purchasing if key in counts else 0
        grouped[key] = _historical_result(
            orders,
            customers,
            revenue,
            window,
            params,
            retained.get(key, {}).get("value"),
            bought.currencies,
        )
    return grouped


# --- Cohorts -------------------------------------------------------------------------------


async def cohorts(session: AsyncSession, window: Window, period: Period) -> Result:
    dialect = session.get_bind().dialect.name
    cohort = period_bucket(Customer.first_purchase_at, period, dialect)
    acquired = _in(Customer.first_purchase_at, window)
    sizes_statement = (
        select(period_label(cohort, dialect).label("cohort"), func.count().label("size"))
        .where(acquired)
        .group_by(cohort)
    )
    # Each cohort member's purchase periods first (from the purchase indexes alone), then
    # one customer lookup per (customer, period) rather than per purchase; periods are
    # formatted only once grouped.
    activity = period_bucket(Event.occurred_at, period, dialect)
    # DISTINCT rather than GROUP BY: SQLite then drops the duplicates as it goes instead of
    # sorting every purchase (half the time).
    active_periods = (
        select(Event.customer_id.label("customer_id"), activity.label("period"))
        .distinct()
        .where(
            Event.type == "purchase",
            _in(Event.occurred_at, window),
            Event.customer_id.in_(select(Customer.id).where(acquired)),
        )
        .subquery()
    )
    active_statement = (
        select(
            period_label(cohort, dialect).label("cohort"),
            period_label(active_periods.c.period, dialect).label("period"),
            func.count().label("active"),
        )
        .select_from(active_periods)
        .join(Customer, Customer.id == active_periods.c.customer_id)
        .group_by(cohort, active_periods.c.period)
    )
    sizes = {str(r.cohort): _int(r.size) for r in (await session.execute(sizes_statement)).all()}
    active: dict[tuple[str, int], int] = {}
    for r in (await session.execute(active_statement)).all():
        k = periods_between(date.fromisoformat(r.cohort), date.fromisoformat(r.period), period)
        active[(str(r.cohort), k)] = _int(r.active)
    last = period_start_date(window, period)
    # The period holding `to` is partial when `to` cuts it short (the current month, for a
    # window ending now): its column counts the purchases so far, and it is left out of
    # `value`, where a period only begun would read as customers lost.
    last_start = datetime.combine(last, time(), tzinfo=UTC)
    partial = window.end < period_next(last_start, period)
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
        complete = observed - 1 if partial else observed
        if complete > 1:
            followed += size
            retained_at_one += counts[1]
    value = _ratio(retained_at_one, followed)
    result: Result = {
        "value": _round(value),
        "period": period.value,
        "cohort_basis": "first_purchase",
        "partial_period": last.isoformat() if partial and sizes else None,
        "cohorts": matrix,
    }
    if value is None:
        result["reason"] = (
            "no cohort acquired in the window"
            if not sizes
            else "no cohort has a complete period 1 yet"
        )
    return result


def period_start_date(window: Window, period: Period) -> date:
    """The start of the period holding the window's last instant."""
    return period_floor(window.end - timedelta(microseconds=1), period).date()
