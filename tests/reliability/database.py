"""Direct reads of a test database, to check what the service wrote behind its API."""

import hashlib
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncConnection, create_async_engine

from app.models import Base, Customer, LedgerEntry, PointLot


@asynccontextmanager
async def connect(database_url: str) -> AsyncIterator[AsyncConnection]:
    engine = create_async_engine(database_url)
    try:
        async with engine.connect() as connection:
            yield connection
    finally:
        await engine.dispose()


async def fingerprint(database_url: str) -> dict[str, tuple[int, str]]:
    """Row count and a digest of every row, per table: equal fingerprints, equal contents."""
    prints: dict[str, tuple[int, str]] = {}
    async with connect(database_url) as connection:
        for table in Base.metadata.sorted_tables:
            rows = (
                await connection.execute(select(table).order_by(*table.primary_key.columns))
            ).all()
            digest = hashlib.sha256(repr([tuple(r) for r in rows]).encode()).hexdigest()
            prints[table.name] = (len(rows), digest)
    return prints


async def ledger_invariant_violations(database_url: str) -> list[str]:
    """Customers whose counters, entries and lots disagree; empty when the ledger is whole.

    Holds while nothing has expired, been redeemed or reversed: then every customer's
    earned counter equals the sum of their entries, which equals what their lots hold.
    """
    async with connect(database_url) as connection:
        entries = dict(
            (
                await connection.execute(
                    select(LedgerEntry.customer_id, func.sum(LedgerEntry.points)).group_by(
                        LedgerEntry.customer_id
                    )
                )
            ).all()
        )
        lots = dict(
            (
                await connection.execute(
                    select(PointLot.customer_id, func.sum(PointLot.remaining)).group_by(
                        PointLot.customer_id
                    )
                )
            ).all()
        )
        counters = dict(
            (await connection.execute(select(Customer.id, Customer.points_earned))).all()
        )
    problems = []
    for customer_id, earned in counters.items():
        in_entries = int(entries.get(customer_id, 0))
        in_lots = int(lots.get(customer_id, 0))
        if not earned == in_entries == in_lots:
            problems.append(f"{customer_id}: earned {earned}, entries {in_entries}, lots {in_lots}")
    return problems
