"""The catalog's metrics and the points liability, against figures worked out by hand."""

from decimal import Decimal
from typing import Any

import httpx
from fastapi import FastAPI
from sqlalchemy import update

from app.models import Coupon
from app.models.base import utcnow
from tests.api.test_rewards import VOUCHER
from tests.conftest import make_settings
from tests.factories import purchase, when
from tests.security.helpers import give_points, serving


def dated(body: dict[str, Any], days_ago: float) -> dict[str, Any]:
    return {**body, "occurred_at": when(days_ago)}


async def test_liability_values_what_is_owed_and_what_expires(settings: Any) -> None:
    configured = make_settings(
        settings.database_url, points_pending_days=14, point_value=Decimal("0.05")
    )
    async with serving(configured) as (client, admin):
        # Default rules: a point per currency unit. Points last 365 days.
        for body in (
            purchase("ann", amount="100"),  # pending for 14 days
            dated(purchase("ann", amount="40"), 300),  # expires in 65 days
            dated(purchase("bob", amount="30"), 340),  # expires in 25 days
        ):
            response = await client.post("/v1/events", json=body, headers=admin)
            assert response.status_code == 201, response.text
        await give_points(client, admin, {"cy": 50})
        response = await client.get("/v1/metrics/liability", headers=admin)
        assert response.status_code == 200, response.text
        body = response.json()
        assert (body["available"], body["pending"], body["points"]) == (120, 100, 220)
        assert (body["point_value"], body["currency"]) == ("0.05", "EUR")
        assert Decimal(body["value"]) == Decimal("11.00")
        assert Decimal(body["available_value"]) == Decimal("6.00")
        assert [(e["days"], e["points"]) for e in body["expiring"]] == [(30, 30), (90, 70)]
        assert Decimal(body["expiring"][1]["value"]) == Decimal("3.50")
        summary = (await client.get("/v1/metrics", headers=admin)).json()
        assert summary["metrics"]["liability"]["points"] == 220


async def test_rewards_metric_counts_redemptions_and_coupons(
    app: FastAPI, client: httpx.AsyncClient, admin_headers: dict[str, str]
) -> None:
    admin = admin_headers
    await give_points(client, admin, {"ann": 1000, "bob": 1000})
    cheap = (
        await client.post("/v1/rewards", json={**VOUCHER, "cost_points": 50}, headers=admin)
    ).json()
    dear = (
        await client.post(
            "/v1/rewards", json={**VOUCHER, "name": "Dear", "cost_points": 300}, headers=admin
        )
    ).json()
    claims = []
    for customer, reward in (("ann", cheap), ("bob", cheap), ("ann", dear), ("bob", dear)):
        response = await client.post(
            f"/v1/customers/{customer}/claims", json={"reward_id": reward["id"]}, headers=admin
        )
        assert response.status_code == 201, response.text
        claims.append(response.json())
    # One used, one voided, one expired, one still open.
    used = claims[0]["coupon"]["code"]
    await client.post(f"/v1/coupons/{used}/redemptions", json={"order_id": "o1"}, headers=admin)
    await client.post(f"/v1/claims/{claims[1]['claim_id']}/void", headers=admin)
    async with app.state.database.sessionmaker() as session, session.begin():
        await session.execute(
            update(Coupon)
            .where(Coupon.code == claims[2]["coupon"]["code"])
            .values(expires_at=utcnow())
        )
    response = await client.get("/v1/metrics/rewards", headers=admin)
    assert response.status_code == 200, response.text
    body = response.json()
    # The void claim's 50 points are not redeemed.
    assert body["points_redeemed"] == 50 + 600
    assert [(r["name"], r["claims"], r["points"]) for r in body["by_reward"]] == [
        ("Dear", 2, 600),
        ("10 EUR voucher", 1, 50),
    ]
    assert body["coupons"] == {
        "issued": 4,
        "used": 1,
        "expired": 1,
        "void": 1,
        "redemption_rate": 0.25,
    }
    summary = (await client.get("/v1/metrics", headers=admin)).json()
    assert summary["metrics"]["rewards"]["coupons"]["issued"] == 4
    empty = await client.get(
        "/v1/metrics/rewards", params={"from": "2020-01-01", "to": "2020-02-01"}, headers=admin
    )
    assert empty.json()["coupons"]["redemption_rate"] is None
    bad = await client.get(
        "/v1/metrics/rewards", params={"from": "2020-02-01", "to": "2020-01-01"}, headers=admin
    )
    assert bad.status_code == 422
