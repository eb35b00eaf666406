"""Assignment and exposure against a real server with two worker processes: every worker
answers the same variant, and concurrent events of one customer expose them once."""

import asyncio
from collections.abc import Iterator
from datetime import datetime, timedelta

import httpx
import pytest

from tests.api.test_experiments import assigned, dated, experiment
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
        limits=httpx.Limits(max_connections=50, max_keepalive_connections=50),
    )


async def test_workers_agree_and_expose_each_customer_once(server: Server) -> None:
    variants = [("control", 40), ("double", 60)]
    async with _client(server) as client:
        created = await client.post("/v1/experiments", json=experiment(variants=variants))
        assert created.status_code == 201, created.text
        start = await client.post("/v1/experiments/double/start")
        at = datetime.fromisoformat(start.json()["started_at"])
        customers = [f"w{i}" for i in range(12)]
        # Each customer's events race each other on both workers.
        posts = [
            client.post(
                "/v1/events",
                json=dated(
                    purchase(who, "10") if k % 2 else event("signup", who),
                    at + timedelta(microseconds=1 + k),
                ),
            )
            for k in range(4)
            for who in customers
        ]
        responses = await asyncio.gather(*posts)
        assert {r.status_code for r in responses} == {201}
        reads = await asyncio.gather(
            *(
                client.get(f"/v1/experiments/double/assignments/{who}")
                for who in customers
                for _ in range(6)
            )
        )
        by_customer: dict[str, set[str]] = {}
        for read in reads:
            body = read.json()
            assert body["exposed"] is True
            by_customer.setdefault(body["customer_id"], set()).add(
                f"{body['variant']}:{body['exposure_event_id']}"
            )
        for who, answers in by_customer.items():
            assert len(answers) == 1, who
            assert next(iter(answers)).split(":")[0] == assigned("salt-double", who, variants)
        results = (await client.get("/v1/experiments/double/results")).json()
        assert sum(v["exposed"] for v in results["variants"]) == len(customers)
