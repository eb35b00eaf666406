"""Acquisition cohorts by first purchase, and their purchases in later periods."""

from datetime import UTC, date, datetime, time, timedelta

from sqlalchemy import and_, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from app.metrics.periods import (
    Period,
    Window,
    period_bucket,
    period_floor,
    period_label,
    period_next,
    periods_between,
)
from app.metrics.queries.common import CustomerFilter, as_int, ratio, restrict, rounded, within
from app.metrics.results import CohortRow, CohortsResult
from app.models import Customer, Event


async def cohorts(
    session: AsyncSession, window: Window, period: Period, customers: CustomerFilter | None
) -> CohortsResult:
    dialect = session.get_bind().dialect.name
    cohort = period_bucket(Customer.first_purchase_at, period, dialect)
    acquired = and_(within(Customer.first_purchase_at, window), *restrict(customers, Customer.id))
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
            within(Event.occurred_at, window),
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
    sizes = {str(r.cohort): as_int(r.size) for r in (await session.execute(sizes_statement)).all()}
    active: dict[tuple[str, int], int] = {}
    for r in (await session.execute(active_statement)).all():
        k = periods_between(date.fromisoformat(r.cohort), date.fromisoformat(r.period), period)
        active[(str(r.cohort), k)] = as_int(r.active)
    last = period_start_date(window, period)
    # The period holding `to` is partial when `to` cuts it short (the current month, for a
    # window ending now): its column counts the purchases so far, and it is left out of
    # `value`, where a period only begun would read as customers lost.
    last_start = datetime.combine(last, time(), tzinfo=UTC)
    partial = window.end < period_next(last_start, period)
    matrix: list[CohortRow] = []
    followed = 0
    retained_at_one = 0
    for label in sorted(sizes):
        size = sizes[label]
        observed = periods_between(date.fromisoformat(label), last, period) + 1
        counts = [active.get((label, k), 0) for k in range(observed)]
        matrix.append(
            CohortRow(
                cohort=label,
                size=size,
                active=counts,
                share_active=[round(c / size, 6) for c in counts],
            )
        )
        complete = observed - 1 if partial else observed
        if complete > 1:
            followed += size
            retained_at_one += counts[1]
    value = ratio(retained_at_one, followed)
    reason = None
    if value is None:
        reason = (
            "no cohort acquired in the window"
            if not sizes
            else "no cohort has a complete period 1 yet"
        )
    return CohortsResult(
        value=rounded(value),
        reason=reason,
        period="week" if period is Period.week else "month",
        cohort_basis="first_purchase",
        partial_period=last.isoformat() if partial and sizes else None,
        cohorts=matrix,
    )


def period_start_date(window: Window, period: Period) -> date:
    """The start of the period holding the window's last instant."""
    return period_floor(window.end - timedelta(microseconds=1), period).date()
