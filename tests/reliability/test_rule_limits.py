"""Rule limits and ruleset versions against a real server with two worker processes."""

import asyncio
from collections.abc import Iterator

import httpx
import pytest

from tests.factories import event, purchase
from tests.server import Server, running_server


@pytest.fixture
def server(database_url: str) -> Iterator[Server]:
    with running_server(database_url, workers=2) as running:
        yield running


def _client(server: Server) -> httpx.AsyncClient:
    return httpx.AsyncClient(
        base_url=server.url,
        headers=server.headers,
        timeout=60,
        limits=httpx.Limits(max_connections=100, max_keepalive_connections=100),
    )


async def test_budget_holds_under_parallel_events(server: Server) -> None:
    async with _client(server) as client:
        created = await client.post(
            "/v1/rules",
            json={
                "id": "launch",
                "name": "Launch bonus",
                "types": ["purchase"],
                "actions": [{"type": "award_points", "points": 10}],
                "limits": {"budget_points": 100},
            },
        )
        assert created.status_code == 201
        responses = await asyncio.gather(
            *(client.post("/v1/events", json=purchase(customer=f"p{i}")) for i in range(30))
        )
        assert [r.status_code for r in responses] == [201] * 30
        awarded = [
            e["points"] for r in responses for e in r.json()["effects"] if e["rule_id"] == "launch"
        ]
        # Each firing takes 10 of 100: exactly ten fit, never more.
        assert awarded == [10] * 10


async def test_per_customer_limit_holds_under_parallel_events(server: Server) -> None:
    async with _client(server) as client:
        created = await client.post(
            "/v1/rules",
            json={
                "id": "reviews",
                "name": "Review points",
                "types": ["review"],
                "actions": [{"type": "award_points", "points": 5}],
                "limits": {"per_customer": {"count": 3, "period": "month"}},
            },
        )
        assert created.status_code == 201
        responses = await asyncio.gather(
            *(client.post("/v1/events", json=event("review", "rex", rating=5)) for _ in range(20))
        )
        assert [r.status_code for r in responses] == [201] * 20
        fired = sum(1 for r in responses if r.json()["effects"])
        assert fired == 3
        customer = (await client.get("/v1/customers/rex")).json()
        assert customer["points"]["lifetime_earned"] == 15


async def test_no_worker_serves_a_stale_ruleset(server: Server) -> None:
    rule = {
        "name": "Bonus",
        "types": ["purchase"],
        "actions": [{"type": "award_points", "points": 1}],
    }
    async with _client(server) as client:
        assert (await client.post("/v1/rules", json={"id": "bonus", **rule})).status_code == 201
        # Warm both workers' caches with version 1.
        await asyncio.gather(*(client.post("/v1/events", json=purchase()) for _ in range(10)))
        edited = await client.put(
            "/v1/rules/bonus",
            json={**rule, "actions": [{"type": "award_points", "points": 7}]},
        )
        assert edited.status_code == 200
        after = await asyncio.gather(
            *(client.post("/v1/events", json=purchase()) for _ in range(10))
        )
        assert {(r.json()["ruleset_version"], r.json()["effects"][0]["points"]) for r in after} == {
            (2, 7)
        }
