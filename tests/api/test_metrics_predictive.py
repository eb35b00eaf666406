"""Predictive CLTV: the per-customer aggregates the fit reads, computed in SQL."""

from datetime import UTC, date, datetime

import httpx
from fastapi import FastAPI

from app.metrics.predictive import CustomerRow, customer_rows
from tests.api.test_metrics import Headers, at, ingest
from tests.factories import purchase


async def test_customer_rows_group_a_days_purchases_into_one_transaction(
    app: FastAPI, client: httpx.AsyncClient, admin_headers: Headers
) -> None:
    await ingest(
        client,
        admin_headers,
        at(purchase("alice", amount="20"), "2026-01-05T10:00:00+00:00"),
        at(purchase("alice", amount="30"), "2026-01-05T18:00:00+00:00"),  # same day: one
        at(purchase("alice", amount="15"), "2026-01-10T08:00:00+00:00"),
        at(purchase("alice", amount="5"), "2026-01-10T09:00:00+00:00"),
        at(purchase("alice", amount="40"), "2026-01-20T09:00:00+00:00"),
        at(purchase("alice", amount="99"), "2026-02-01T00:00:00+00:00"),  # after `to`
        # 23:30 at -01:00 is 00:30 UTC the next day: days are UTC days.
        at(purchase("bob", amount="12.50"), "2026-01-07T23:30:00-01:00"),
        at(purchase("carol", amount="10"), "2026-02-03T00:00:00+00:00"),  # after `to`
    )
    end = datetime(2026, 2, 1, tzinfo=UTC)
    async with app.state.database.read_sessionmaker() as session:
        rows = await customer_rows(session, end, None)
        cohort = await customer_rows(session, end, datetime(2026, 1, 6, tzinfo=UTC))
    # alice: days Jan 5 (50), Jan 10 (20), Jan 20 (40); repeat value 20 + 40.
    assert rows == [
        CustomerRow("alice", date(2026, 1, 5), date(2026, 1, 20), 3, 60.0),
        CustomerRow("bob", date(2026, 1, 8), date(2026, 1, 8), 1, 0.0),
    ]
    # Only customers whose first purchase is on or after the cohort start.
    assert cohort == [CustomerRow("bob", date(2026, 1, 8), date(2026, 1, 8), 1, 0.0)]
