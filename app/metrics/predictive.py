"""Predictive CLTV: the per-customer purchase aggregates the BG/NBD fit reads, in SQL.

Only one row per customer leaves the database: the fit needs each customer's first and
last transaction day, how many days they bought on, and the value of their repeat
transactions. Several purchases on one UTC day are one transaction (their amounts add up),
as in Fader, Hardie & Lee (2005).
"""

from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal

from sqlalchemy import and_, case, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from app.metrics.periods import Period, period_start
from app.models import CltvFit, CltvPrediction, Customer, Event


@dataclass(frozen=True)
class CustomerRow:
    customer_id: str
    first_day: date
    last_day: date
    transaction_days: int
    repeat_value_sum: float


async def customer_rows(
    session: AsyncSession, end: datetime, cohort_start: datetime | None
) -> list[CustomerRow]:
    """One row per customer with a purchase before ``end``.

    With ``cohort_start``, only customers whose first purchase is on or after it (an
    acquisition cohort, like the CDNOW sample) take part.
    """
    dialect = session.get_bind().dialect.name
    day = period_start(Event.occurred_at, Period.day, dialect)
    conditions = [Event.type == "purchase", Event.occurred_at < end]
    daily_statement = select(
        Event.customer_id.label("customer_id"),
        day.label("day"),
        func.sum(Event.amount).label("value"),
    )
    if cohort_start is not None:
        daily_statement = daily_statement.join(Customer, Customer.id == Event.customer_id)
        conditions.append(Customer.first_purchase_at >= cohort_start)
    daily = daily_statement.where(and_(*conditions)).group_by(Event.customer_id, day).subquery()
    ranked = select(
        daily.c.customer_id,
        daily.c.day,
        daily.c.value,
        func.min(daily.c.day).over(partition_by=daily.c.customer_id).label("first_day"),
    ).subquery()
    statement = (
        select(
            ranked.c.customer_id,
            func.min(ranked.c.day).label("first_day"),
            func.max(ranked.c.day).label("last_day"),
            func.count().label("transaction_days"),
            func.coalesce(
                func.sum(case((ranked.c.day != ranked.c.first_day, ranked.c.value), else_=0)), 0
            ).label("repeat_value_sum"),
        )
        .group_by(ranked.c.customer_id)
        .order_by(ranked.c.customer_id)
    )
    return [
        CustomerRow(
            customer_id=r.customer_id,
            first_day=date.fromisoformat(r.first_day),
            last_day=date.fromisoformat(r.last_day),
            transaction_days=int(r.transaction_days),
            repeat_value_sum=float(Decimal(r.repeat_value_sum)),
        )
        for r in (await session.execute(statement)).all()
    ]


@dataclass(frozen=True)
class Prediction:
    p_alive: float
    expected_transactions: float
    predicted_clv: float | None
    fit: CltvFit


async def latest_prediction(session: AsyncSession, customer_id: str) -> Prediction | None:
    """The customer's predictions from the most recent fit; None without one, or when that
    fit did not include them (no purchase before its window's end)."""
    fit = await session.scalar(
        select(CltvFit).order_by(CltvFit.fitted_at.desc(), CltvFit.id.desc()).limit(1)
    )
    if fit is None:
        return None
    row = await session.get(CltvPrediction, (fit.id, customer_id))
    if row is None:
        return None
    return Prediction(
        p_alive=row.p_alive,
        expected_transactions=row.expected_transactions,
        predicted_clv=row.predicted_clv,
        fit=fit,
    )
