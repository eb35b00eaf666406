"""Customers: created on first sight, locked while their points or aggregates change."""

from datetime import datetime
from decimal import Decimal
from functools import cache
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from app.database import insert_for
from app.errors import NotFound
from app.models import Customer, CustomerBadge, CustomerPerk
from app.models.base import utcnow


@cache
def _upsert(insert: Any) -> Any:
    """``INSERT ... ON CONFLICT (id) DO UPDATE ... RETURNING``, built once per dialect."""
    statement = insert(Customer)
    return statement.on_conflict_do_update(
        index_elements=["id"], set_={"id": statement.excluded.id}
    ).returning(Customer)


async def lock_or_create(session: AsyncSession, customer_id: str, seen_at: datetime) -> Customer:
    """The customer's row, created if new, locked until the transaction ends.

    One ``INSERT ... ON CONFLICT DO UPDATE ... RETURNING`` both creates and locks: on
    PostgreSQL the no-op update takes the row lock that serialises every change to one
    customer's points across workers; SQLite's write transaction already serialises.
    """
    values = {
        "id": customer_id,
        "created_at": utcnow(),
        "first_seen_at": seen_at,
        "purchase_count": 0,
        "lifetime_spend": Decimal(0),
        "referral_count": 0,
        "points_earned": 0,
        "points_redeemed": 0,
        "points_expired": 0,
        "points_reversed": 0,
        "points_adjusted": 0,
    }
    customer: Customer = (
        await session.scalars(
            _upsert(insert_for(session)),
            values,
            execution_options={"populate_existing": True},
        )
    ).one()
    # Events may arrive out of order; the customer is as old as their earliest event.
    if seen_at < customer.first_seen_at:
        customer.first_seen_at = seen_at
    return customer


async def lock(session: AsyncSession, customer_id: str) -> Customer:
    customer = await session.scalar(
        select(Customer)
        .where(Customer.id == customer_id)
        .with_for_update()
        .execution_options(populate_existing=True)
    )
    if customer is None:
        raise NotFound(f"Customer {customer_id!r} does not exist.")
    return customer


async def get(session: AsyncSession, customer_id: str) -> Customer:
    customer = await session.get(Customer, customer_id)
    if customer is None:
        raise NotFound(f"Customer {customer_id!r} does not exist.")
    return customer


async def badges(session: AsyncSession, customer_id: str) -> list[CustomerBadge]:
    result = await session.scalars(
        select(CustomerBadge)
        .where(CustomerBadge.customer_id == customer_id)
        .order_by(CustomerBadge.awarded_at, CustomerBadge.id)
    )
    return list(result)


async def active_perks(
    session: AsyncSession, customer_id: str, now: datetime
) -> list[CustomerPerk]:
    result = await session.scalars(
        select(CustomerPerk)
        .where(CustomerPerk.customer_id == customer_id)
        .where((CustomerPerk.expires_at.is_(None)) | (CustomerPerk.expires_at > now))
        .order_by(CustomerPerk.granted_at, CustomerPerk.id)
    )
    return list(result)
