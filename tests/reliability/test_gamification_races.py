"""Concurrent events against a real server with two workers: challenge completions and
leaderboard scores, each counted exactly once."""

import asyncio
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import httpx
import pytest

from tests.factories import event
from tests.gamification.helpers import expected_standings, review
from tests.server import Server, running_server


@pytest.fixture
def server(database_url: str) -> Iterator[Server]:
    env = {"REINFORCE_WEBHOOK_ALLOWED_NETWORKS": "127.0.0.0/8"}
    with running_server(database_url, workers=2, env=env) as running:
        yield running


def _client(server: Server) -> httpx.AsyncClient:
    return httpx.AsyncClient(
        base_url=server.url,
        headers=server.headers,
        timeout=60,
        limits=httpx.Limits(max_connections=50, max_keepalive_connections=50),
    )


async def test_a_challenge_completed_by_concurrent_events_fires_once(server: Server) -> None:
    challenge = {
        "id": "five-reviews",
        "name": "Five reviews",
        "event_types": ["review"],
        "goal": {"count": 5},
        "window": {"rolling_days": 30},
        "actions": [{"type": "award_points", "points": 50}, {"type": "award_badge", "badge": "b5"}],
    }
    async with _client(server) as client:
        assert (await client.post("/v1/challenges", json=challenge)).status_code == 201
        hook = await client.post(
            "/v1/webhooks",
            json={"url": "http://127.0.0.1:9/hook", "event_types": ["challenge.completed"]},
        )
        assert hook.status_code == 201, hook.text
        signup = await client.post("/v1/events", json=event("signup", "racer"))
        assert signup.status_code == 201
        # One time for all: whichever is processed first opens the customer's window.
        now = datetime.now(UTC)
        bodies = [review("racer", now) for _ in range(20)]
        # A customer created by the race itself: the concurrent creations meet too.
        bodies += [review("newcomer", now) for _ in range(12)]
        responses = await asyncio.gather(*(client.post("/v1/events", json=b) for b in bodies))
        assert [r.status_code for r in responses] == [201] * len(bodies)
        for customer in ("racer", "newcomer"):
            completing = [
                r.json()
                for r, b in zip(responses, bodies, strict=True)
                if b["customer_id"] == customer
                and any(e["action"] == "challenge_completed" for e in r.json()["effects"])
            ]
            assert len(completing) == 1, customer
            ledger = (await client.get(f"/v1/customers/{customer}/ledger")).json()["items"]
            assert [e["points"] for e in ledger if e["rule_id"] == "five-reviews"] == [50]
            progress = (await client.get(f"/v1/customers/{customer}/challenges")).json()
            assert progress["items"][0]["completions"] == 1
            assert progress["items"][0]["progress"] == "5/5"
        messages = (await client.get(f"/v1/webhooks/{hook.json()['id']}/messages")).json()
        completed = [m for m in messages["items"] if m["event_type"] == "challenge.completed"]
        assert sorted(m["payload"]["data"]["customer_id"] for m in completed) == [
            "newcomer",
            "racer",
        ]


async def test_concurrent_events_add_up_on_a_leaderboard(server: Server) -> None:
    board = {
        "id": "reviews",
        "name": "Reviews",
        "score": "event_count",
        "event_types": ["review"],
        "period": "all_time",
    }
    async with _client(server) as client:
        assert (await client.post("/v1/leaderboards", json=board)).status_code == 201
        start = datetime(2025, 5, 1, tzinfo=UTC)
        plan = {"ana": 15, "ben": 15, "cy": 9, "dee": 1}
        bodies = [
            review(customer, start + timedelta(minutes=index * 7 + offset))
            for offset, (customer, count) in enumerate(plan.items())
            for index in range(count)
        ]
        responses = await asyncio.gather(*(client.post("/v1/events", json=b) for b in bodies))
        assert [r.status_code for r in responses] == [201] * len(bodies)
        standings = (await client.get("/v1/leaderboards/reviews/standings")).json()["entries"]
        expected = expected_standings(
            (b["customer_id"], Decimal(1), datetime.fromisoformat(b["occurred_at"])) for b in bodies
        )
        assert [(e["rank"], e["customer_id"], Decimal(e["score"])) for e in standings] == [
            (x.rank, x.customer_id, x.score) for x in expected
        ]
