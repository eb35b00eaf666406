"""Races against a real uvicorn process: the database, not the process, keeps order."""

import asyncio
from collections.abc import Iterator

import httpx
import pytest

from tests.factories import purchase
from tests.server import Server, running_server


@pytest.fixture
def server(database_url: str) -> Iterator[Server]:
    # Two worker processes: nothing in one process can keep the other in line.
    with running_server(database_url, workers=2) as running:
        yield running


def _client(server: Server) -> httpx.AsyncClient:
    return httpx.AsyncClient(
        base_url=server.url,
        headers=server.headers,
        timeout=60,
        limits=httpx.Limits(max_connections=100, max_keepalive_connections=100),
    )


async def test_parallel_posts_of_one_event_process_it_once(server: Server) -> None:
    body = purchase(customer="racer", amount="42")
    async with _client(server) as client:
        responses = await asyncio.gather(
            *(client.post("/v1/events", json=body) for _ in range(100))
        )
        statuses = sorted(r.status_code for r in responses)
        odd = [r.text[:400] for r in responses if r.status_code not in (200, 201)]
        assert statuses == [200] * 99 + [201], (statuses[-20:], odd[:3])
        # One body, byte for byte: the first answer is stored and replayed to the others.
        assert len({r.content for r in responses}) == 1
        replayed = [r for r in responses if r.status_code == 200]
        assert all(r.headers.get("Idempotent-Replayed") == "true" for r in replayed)
        ledger = (await client.get("/v1/customers/racer/ledger")).json()["items"]
        assert [(e["kind"], e["points"], e["event_id"]) for e in ledger] == [
            ("earn", 42, body["id"])
        ]
        customer = (await client.get("/v1/customers/racer")).json()
        assert customer["aggregates"]["purchase_count"] == 1
        assert customer["points"]["lifetime_earned"] == 42


async def test_parallel_redemptions_never_overdraw(server: Server) -> None:
    async with _client(server) as client:
        # With the default rules 100 EUR earn 100 points: ten redemptions of 10.
        earned = await client.post("/v1/events", json=purchase(customer="spender", amount="100"))
        assert earned.status_code == 201
        responses = await asyncio.gather(
            *(
                client.post(
                    "/v1/customers/spender/redemptions", json={"points": 10, "reason": "race"}
                )
                for _ in range(50)
            )
        )
        statuses = [r.status_code for r in responses]
        assert statuses.count(201) == 10
        assert statuses.count(422) == 40
        assert all(
            r.json()["type"] == "urn:reinforce:problem:insufficient-points"
            for r in responses
            if r.status_code == 422
        )
        customer = (await client.get("/v1/customers/spender")).json()
        assert customer["points"]["available"] == 0
        assert customer["points"]["redeemed"] == 100
        ledger = (await client.get("/v1/customers/spender/ledger")).json()["items"]
        assert sorted(e["points"] for e in ledger) == [-10] * 10 + [100]
