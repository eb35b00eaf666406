"""Erasures racing events for the same customer, across two worker processes: the row
lock orders them, so nothing is lost, counted twice or left half-moved."""

import asyncio

import httpx
from sqlalchemy import func, select

from app.models import Customer, Event
from tests.factories import purchase
from tests.reliability.database import connect, ledger_invariant_violations
from tests.server import running_server

EVENTS = 30
ERASURES = 5


async def test_erasures_racing_events_lose_nothing(database_url: str) -> None:
    with running_server(database_url, workers=2) as server:
        async with httpx.AsyncClient(
            base_url=server.url, headers=server.headers, timeout=60
        ) as client:
            first = await client.post("/v1/events", json=purchase("racer", "10"))
            assert first.status_code == 201
            requests = [
                client.post("/v1/events", json=purchase("racer", "10")) for _ in range(EVENTS)
            ]
            for index in range(ERASURES):
                requests.insert(index * 6 + 3, client.delete("/v1/customers/racer"))
            responses = await asyncio.gather(*requests)
    statuses = sorted({r.status_code for r in responses})
    assert statuses == [200, 201], [r.text for r in responses if r.status_code >= 300]
    erased = sum(1 for r in responses if r.request.method == "DELETE" and r.json()["erased"])
    assert erased >= 1

    assert await ledger_invariant_violations(database_url) == []
    async with connect(database_url) as connection:
        rows = (
            await connection.execute(
                select(Customer.id, Customer.points_earned, Customer.erased_at)
            )
        ).all()
        events = (
            await connection.execute(
                select(Event.customer_id, func.count()).group_by(Event.customer_id)
            )
        ).all()
    # Every event earned its 10 points once, on the racer or on one of the pseudonyms.
    assert sum(points for _, points, _ in rows) == 10 * (EVENTS + 1)
    assert sum(count for _, count in events) == EVENTS + 1
    pseudonyms = {id_ for id_, _, erased_at in rows if erased_at is not None}
    assert len(pseudonyms) == erased
    assert {customer for customer, _ in events} <= pseudonyms | {"racer"}
