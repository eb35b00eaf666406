"""Migration 0009 on a database with history: ledger entries get their source event's
occurred_at (or their created_at), existing customers an empty profile."""

import asyncio
from datetime import UTC, datetime

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import create_async_engine

from app.migrations import downgrade, upgrade
from app.models.base import JSONType, UTCDateTime

OCCURRED = datetime(2025, 3, 4, 5, 6, 7, tzinfo=UTC)
WRITTEN = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)

# The three tables as revision 0007 left them, as far as these rows need.
CUSTOMERS = sa.table(
    "customers",
    *(sa.column(name) for name in ("id", "purchase_count", "lifetime_spend", "referral_count")),
    *(sa.column(f"points_{k}") for k in ("earned", "redeemed", "expired", "reversed", "adjusted")),
    sa.column("created_at", UTCDateTime()),
    sa.column("first_seen_at", UTCDateTime()),
)
EVENTS = sa.table(
    "events",
    sa.column("id"),
    sa.column("type"),
    sa.column("customer_id"),
    sa.column("body_hash"),
    sa.column("occurred_at", UTCDateTime()),
    sa.column("received_at", UTCDateTime()),
    *(sa.column(name, JSONType) for name in ("data", "attributes", "response")),
)
ENTRIES = sa.table(
    "ledger_entries",
    *(sa.column(name) for name in ("id", "customer_id", "kind", "points", "event_id", "reason")),
    sa.column("created_at", UTCDateTime()),
)


async def _seed(url: str) -> None:
    engine = create_async_engine(url)
    try:
        async with engine.begin() as connection:
            await connection.execute(
                CUSTOMERS.insert().values(
                    id="alice",
                    purchase_count=1,
                    lifetime_spend=10,
                    referral_count=0,
                    points_earned=10,
                    points_redeemed=4,
                    points_expired=0,
                    points_reversed=0,
                    points_adjusted=0,
                    created_at=WRITTEN,
                    first_seen_at=OCCURRED,
                )
            )
            await connection.execute(
                EVENTS.insert().values(
                    id="evt-1",
                    type="purchase",
                    customer_id="alice",
                    body_hash="0" * 64,
                    occurred_at=OCCURRED,
                    received_at=WRITTEN,
                    data={},
                    attributes={},
                    response={},
                )
            )
            await connection.execute(
                ENTRIES.insert(),
                [
                    {"id": 1, "customer_id": "alice", "kind": "earn", "points": 10,
                     "event_id": "evt-1", "reason": "purchase", "created_at": WRITTEN},
                    {"id": 2, "customer_id": "alice", "kind": "redeem", "points": -4,
                     "event_id": None, "reason": "voucher", "created_at": WRITTEN},
                ],
            )  # fmt: skip
    finally:
        await engine.dispose()


async def _read(url: str) -> tuple[list[datetime], tuple[object, ...]]:
    engine = create_async_engine(url)
    entries = sa.table("ledger_entries", sa.column("id"), sa.column("occurred_at", UTCDateTime()))
    customers = sa.table(
        "customers", *(sa.column(n) for n in ("display_name", "marketing_opt_in", "erased_at"))
    )
    try:
        async with engine.connect() as connection:
            times = await connection.scalars(
                sa.select(entries.c.occurred_at).order_by(entries.c.id)
            )
            profile = (await connection.execute(sa.select(customers))).one()
            return list(times), tuple(profile)
    finally:
        await engine.dispose()


def test_entries_get_their_events_time_and_customers_an_empty_profile(
    sync_empty_database_url: str,
) -> None:
    url = sync_empty_database_url
    upgrade(url, "0007")
    asyncio.run(_seed(url))
    upgrade(url)
    times, profile = asyncio.run(_read(url))
    assert times == [OCCURRED, WRITTEN]
    assert profile == (None, False, None)
    # And back, with the rows in place (SQLite must not rebuild the referenced tables).
    downgrade(url, "0007")
    upgrade(url)
    assert asyncio.run(_read(url))[0] == [OCCURRED, WRITTEN]
