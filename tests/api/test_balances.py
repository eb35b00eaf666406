"""Balances add up: earned - redeemed - expired - reversed + adjusted = available + pending.

Random workloads (seeded, so a failure is reproducible) of purchases, pending and lapsed
lots, refunds, redemptions, adjustments, bulk awards and expiry runs, all over HTTP. After
every step each customer's balance must add up, and each figure must match what their
ledger entries of that kind sum to, read independently from the ledger endpoint.
"""

import random
from collections.abc import AsyncIterator
from decimal import Decimal
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from app.auth import service as auth_service
from app.auth.scopes import Scope
from app.ledger.jobs import expire_due
from app.main import create_app
from tests.conftest import bearer, make_settings
from tests.factories import purchase, refund, when

CUSTOMERS = ("ann", "ben", "cat")
STEPS = 60


@pytest.fixture(params=[False, True], ids=["shortfall", "negative-balance"])
async def workload_app(database_url: str, request: pytest.FixtureRequest) -> AsyncIterator[FastAPI]:
    settings = make_settings(
        database_url,
        points_pending_days=7,
        points_validity_days=30,
        refund_allow_negative_balance=request.param,
    )
    app = create_app(settings)
    async with app.router.lifespan_context(app):
        yield app


async def ledger_sums(
    client: httpx.AsyncClient, headers: dict[str, str], who: str
) -> dict[str, int]:
    sums = dict.fromkeys(("earn", "redeem", "expire", "reverse", "adjust"), 0)
    cursor: str | None = None
    while True:
        params: dict[str, Any] = {"limit": 200, **({"cursor": cursor} if cursor else {})}
        response = await client.get(f"/v1/customers/{who}/ledger", params=params, headers=headers)
        assert response.status_code == 200, response.text
        page = response.json()
        for entry in page["items"]:
            sums[entry["kind"]] += entry["points"]
        cursor = page["next_cursor"]
        if cursor is None:
            return sums


async def assert_balances_add_up(client: httpx.AsyncClient, headers: dict[str, str]) -> None:
    for who in CUSTOMERS:
        response = await client.get(f"/v1/customers/{who}", headers=headers)
        if response.status_code == 404:
            continue
        points = response.json()["points"]
        sums = await ledger_sums(client, headers, who)
        assert points["earned"] == points["lifetime_earned"] == sums["earn"], who
        assert points["redeemed"] == -sums["redeem"], who
        assert points["reversed"] == -sums["reverse"], who
        assert points["adjusted"] == sums["adjust"], who
        # Expired counts lapsed lots the expiry job has not processed yet, so it is at
        # least what the expire entries say.
        assert points["expired"] >= -sums["expire"], who
        assert (
            points["earned"]
            - points["redeemed"]
            - points["expired"]
            - points["reversed"]
            + points["adjusted"]
            == points["available"] + points["pending"]
        ), (who, points)


@pytest.mark.parametrize("seed", [1, 2, 3])
async def test_balances_add_up_on_random_workloads(workload_app: FastAPI, seed: int) -> None:
    rng = random.Random(seed)
    async with workload_app.state.database.sessionmaker() as session, session.begin():
        _, secret = await auth_service.create_key(session, name="t", scopes=[Scope.admin])
    headers = bearer(secret)
    # Refundable amount left per order, kept by the test itself.
    orders: dict[str, tuple[str, Decimal]] = {}
    transport = httpx.ASGITransport(app=workload_app)
    async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
        for _ in range(STEPS):
            who = rng.choice(CUSTOMERS)
            action = rng.choices(
                ["purchase", "refund", "redeem", "adjust", "bulk", "expire"],
                weights=[5, 2, 3, 2, 1, 1],
            )[0]
            if action == "purchase" or not orders:
                amount = Decimal(rng.randint(1, 20_000)) / 100
                # 0-45 days ago: some pending (< 7 days), some lapsed (> 30 days).
                body = purchase(who, str(amount), occurred_at=when(days_ago=rng.uniform(0, 45)))
                response = await client.post("/v1/events", json=body, headers=headers)
                assert response.status_code == 201, response.text
                orders[body["data"]["order_id"]] = (who, amount)
            elif action == "refund":
                order_id = rng.choice(sorted(orders))
                owner, left = orders[order_id]
                if left <= 0:
                    continue
                part = min(left, Decimal(rng.randint(1, int(left * 100) or 1)) / 100)
                response = await client.post(
                    "/v1/events", json=refund(order_id, str(part), owner), headers=headers
                )
                assert response.status_code == 201, response.text
                orders[order_id] = (owner, left - part)
            elif action == "redeem":
                response = await client.post(
                    f"/v1/customers/{who}/redemptions",
                    json={"points": rng.randint(1, 150), "reason": "voucher"},
                    headers=headers,
                )
                assert response.status_code in {201, 404, 422}, response.text
            elif action == "adjust":
                points = rng.choice([-1, 1]) * rng.randint(1, 60)
                response = await client.post(
                    f"/v1/customers/{who}/adjustments",
                    json={"points": points, "reason": "correction"},
                    headers=headers,
                )
                assert response.status_code in {201, 404, 422}, response.text
            elif action == "bulk":
                awards = [
                    {"customer_id": c, "points": rng.randint(1, 40)}
                    for c in rng.sample(CUSTOMERS, rng.randint(1, len(CUSTOMERS)))
                ]
                response = await client.post(
                    "/v1/adjustments/bulk",
                    json={"reason": "gift", "awards": awards, "create_customers": True},
                    headers=headers,
                )
                assert response.status_code == 201, response.text
            else:
                await expire_due(workload_app.state.database)
            await assert_balances_add_up(client, headers)
        # Every lapsed lot processed: expired is then exactly what the entries say.
        await expire_due(workload_app.state.database)
        await assert_balances_add_up(client, headers)
        for who in CUSTOMERS:
            response = await client.get(f"/v1/customers/{who}", headers=headers)
            if response.status_code == 200:
                sums = await ledger_sums(client, headers, who)
                assert response.json()["points"]["expired"] == -sums["expire"], who


async def test_a_lapsed_lot_counts_as_expired_before_the_job_runs(
    workload_app: FastAPI,
) -> None:
    async with workload_app.state.database.sessionmaker() as session, session.begin():
        _, secret = await auth_service.create_key(session, name="t", scopes=[Scope.admin])
    headers = bearer(secret)
    transport = httpx.ASGITransport(app=workload_app)
    async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
        old = purchase("ann", "40", occurred_at=when(days_ago=31))  # valid 30 days
        assert (await client.post("/v1/events", json=old, headers=headers)).status_code == 201
        recent = purchase("ann", "25", occurred_at=when(days_ago=10))
        assert (await client.post("/v1/events", json=recent, headers=headers)).status_code == 201
        before = (await client.get("/v1/customers/ann", headers=headers)).json()["points"]
        assert (before["earned"], before["expired"], before["available"]) == (65, 40, 25)
        assert await expire_due(workload_app.state.database) == 40
        after = (await client.get("/v1/customers/ann", headers=headers)).json()["points"]
        assert after == before
