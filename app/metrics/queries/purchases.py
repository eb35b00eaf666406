"""The window's purchases and refunds, which historical CLTV is computed from."""

from decimal import Decimal
from typing import Any

from sqlalchemy import exists, func, literal_column, select
from sqlalchemy.ext.asyncio import AsyncSession

from app.metrics.periods import Window
from app.metrics.queries.common import (
    By,
    CustomerFilter,
    Key,
    as_int,
    grouped,
    key_of,
    restrict,
    within,
)
from app.metrics.results import Purchases
from app.models import Event, Order


async def purchases(
    session: AsyncSession, window: Window, by: By | None, customers: CustomerFilter | None
) -> Purchases:
    # Every stored purchase event has its order, for the same amount (ingest records both in
    # one transaction and refuses a second purchase of an order), so the window's revenue is
    # the events' amounts, read from the purchase index, less the refunds of their orders,
    # read from the small index of refunded orders. Joining every purchase to its order row
    # instead was most of this metric's time.
    in_window = (
        Event.type == "purchase",
        within(Event.occurred_at, window),
        *restrict(customers, Event.customer_id),
    )
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
        key_of(r): Decimal(r.refunded or 0)
        for r in (await session.execute(grouped(refunds, by, Order.customer_id))).all()
    }
    orders: dict[Key, int] = {}
    revenue: dict[Key, Decimal] = {}
    currencies: set[str] = set()
    for r in (await session.execute(grouped(totals, by, totals_customer))).all():
        key = key_of(r)
        orders[key] = orders.get(key, 0) + as_int(r.orders)
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
