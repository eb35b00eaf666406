"""Claims and coupon uses racing against a real server with two worker processes: stock,
limits, pools and single use hold because the database arbitrates."""

import asyncio
from collections import Counter
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from tests.factories import event
from tests.server import Server, running_server

VOUCHER = {
    "name": "Race voucher",
    "cost_points": 100,
    "kind": "discount_fixed",
    "value": "5",
    "currency": "EUR",
}


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


async def _setup(client: httpx.AsyncClient, points: dict[str, int], **reward: Any) -> str:
    awards = [{"customer_id": c, "points": p} for c, p in points.items()]
    given = await client.post(
        "/v1/adjustments/bulk",
        json={"reason": "welcome", "awards": awards, "create_customers": True},
    )
    assert given.status_code == 201, given.text
    created = await client.post("/v1/rewards", json={**VOUCHER, **reward})
    assert created.status_code == 201, created.text
    reward_id: str = created.json()["id"]
    return reward_id


def _types(responses: list[httpx.Response]) -> Counter[Any]:
    return Counter(
        r.status_code if r.status_code < 400 else r.json()["type"].rsplit(":", 1)[1]
        for r in responses
    )


async def test_thirty_customers_race_for_five_units(server: Server) -> None:
    customers = [f"racer-{i:02d}" for i in range(30)]
    async with _client(server) as client:
        reward_id = await _setup(client, dict.fromkeys(customers, 150), stock=5)
        responses = await asyncio.gather(
            *(
                client.post(f"/v1/customers/{c}/claims", json={"reward_id": reward_id})
                for c in customers
            )
        )
        assert _types(responses) == {201: 5, "reward-out-of-stock": 25}
        reward = (await client.get(f"/v1/rewards/{reward_id}")).json()
        assert reward["stock"] == 0
        winners = {r.json()["customer_id"] for r in responses if r.status_code == 201}
        codes = {r.json()["coupon"]["code"] for r in responses if r.status_code == 201}
        assert len(codes) == 5
        for customer in customers:
            points = (await client.get(f"/v1/customers/{customer}")).json()["points"]
            spent = 100 if customer in winners else 0
            assert (points["available"], points["redeemed"]) == (150 - spent, spent)


async def test_one_customer_racing_a_limit_and_a_balance(server: Server) -> None:
    async with _client(server) as client:
        limited = await _setup(
            client, {"lone": 1000}, per_customer_limit={"count": 2, "period": "lifetime"}
        )
        responses = await asyncio.gather(
            *(
                client.post("/v1/customers/lone/claims", json={"reward_id": limited})
                for _ in range(10)
            )
        )
        assert _types(responses) == {201: 2, "reward-limit-reached": 8}
        # 800 points left: eight claims of an unlimited reward, however many race.
        unlimited = (await client.post("/v1/rewards", json=VOUCHER)).json()["id"]
        responses = await asyncio.gather(
            *(
                client.post("/v1/customers/lone/claims", json={"reward_id": unlimited})
                for _ in range(12)
            )
        )
        assert _types(responses) == {201: 8, "insufficient-points": 4}
        points = (await client.get("/v1/customers/lone")).json()["points"]
        assert (points["available"], points["redeemed"]) == (0, 1000)


async def test_twenty_checkouts_race_for_one_coupon(server: Server) -> None:
    async with _client(server) as client:
        reward_id = await _setup(client, {"shopper": 100})
        claimed = await client.post("/v1/customers/shopper/claims", json={"reward_id": reward_id})
        code = claimed.json()["coupon"]["code"]
        responses = await asyncio.gather(
            *(
                client.post(f"/v1/coupons/{code}/redemptions", json={"order_id": f"o-{i}"})
                for i in range(20)
            )
        )
        assert _types(responses) == {201: 1, "coupon-already-used": 19}
        winner = next(r.json()["order_id"] for r in responses if r.status_code == 201)
        coupon = (await client.get(f"/v1/coupons/{code}")).json()
        assert (coupon["status"], coupon["order_id"]) == ("used", winner)


async def test_a_pool_hands_each_code_out_once(server: Server) -> None:
    customers = [f"pooler-{i:02d}" for i in range(12)]
    async with _client(server) as client:
        reward_id = await _setup(client, dict.fromkeys(customers, 100))
        imported = await client.post(
            f"/v1/rewards/{reward_id}/codes", json={"codes": ["P1", "P2", "P3", "P4"]}
        )
        assert imported.status_code == 201
        responses = await asyncio.gather(
            *(
                client.post(f"/v1/customers/{c}/claims", json={"reward_id": reward_id})
                for c in customers
            )
        )
        assert _types(responses) == {201: 4, "reward-out-of-stock": 8}
        codes = sorted(r.json()["coupon"]["code"] for r in responses if r.status_code == 201)
        assert codes == ["P1", "P2", "P3", "P4"]


async def test_racing_events_issue_exactly_the_stock(server: Server) -> None:
    async with _client(server) as client:
        created = await client.post("/v1/rewards", json={**VOUCHER, "stock": 5})
        reward_id = created.json()["id"]
        rule = {
            "id": "gift",
            "name": "Welcome gift",
            "types": ["signup"],
            "actions": [{"type": "issue_coupon", "reward_id": reward_id}],
        }
        assert (await client.post("/v1/rules", json=rule)).status_code == 201
        responses = await asyncio.gather(
            *(client.post("/v1/events", json=event("signup", f"new-{i:02d}")) for i in range(30))
        )
        assert {r.status_code for r in responses} == {201}
        effects = [
            e for r in responses for e in r.json()["effects"] if e["action"] == "issue_coupon"
        ]
        assert Counter(e["refused"] for e in effects) == {None: 5, "reward-out-of-stock": 25}
        codes = {e["coupon"]["code"] for e in effects if e["coupon"]}
        assert len(codes) == 5
        reward = (await client.get(f"/v1/rewards/{reward_id}")).json()
        assert reward["stock"] == 0
        for code in codes:
            assert (await client.get(f"/v1/coupons/{code}")).json()["status"] == "active"
