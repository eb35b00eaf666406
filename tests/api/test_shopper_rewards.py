"""The shopper's own catalog, claims and coupons under /v1/me."""

from typing import Any

from tests.api.test_rewards import make_reward
from tests.conftest import make_settings
from tests.security.helpers import give_points, serving, shopper_headers


async def test_the_catalog_says_what_the_shopper_can_claim_and_why_not(settings: Any) -> None:
    async with serving(make_settings(settings.database_url, shopper_redemptions=True)) as (
        client,
        admin,
    ):
        await give_points(client, admin, {"sue": 150, "tom": 10})
        cheap = await make_reward(client, admin, cost_points=100)
        dear = await make_reward(client, admin, name="Dear", cost_points=400)
        gold = await make_reward(
            client,
            admin,
            name="Gold only",
            cost_points=10,
            eligibility={"fact": "customer.tier", "op": "eq", "value": "gold"},
        )
        await make_reward(client, admin, name="Later", active_from="2999-01-01T00:00:00Z")
        sue = await shopper_headers(client, admin, "sue")
        listed = await client.get("/v1/me/rewards", headers=sue)
        assert listed.status_code == 200, listed.text
        items = {r["id"]: r for r in listed.json()["items"]}
        # The reward not open yet is not listed.
        assert set(items) == {cheap["id"], dear["id"], gold["id"]}
        assert (items[cheap["id"]]["affordable"], items[cheap["id"]]["eligible"]) == (True, True)
        assert items[cheap["id"]]["reasons"] == []
        assert (items[dear["id"]]["affordable"], items[dear["id"]]["eligible"]) == (False, True)
        assert items[dear["id"]]["reasons"] == ["250 more points needed"]
        assert (items[gold["id"]]["affordable"], items[gold["id"]]["eligible"]) == (True, False)
        assert 'customer.tier eq "gold" was false' in items[gold["id"]]["reasons"][0]

        claimed = await client.post(
            "/v1/me/claims",
            json={"reward_id": cheap["id"]},
            headers={**sue, "Idempotency-Key": "k1"},
        )
        assert claimed.status_code == 201, claimed.text
        assert claimed.json()["customer_id"] == "sue"
        coupons = (await client.get("/v1/me/coupons", headers=sue)).json()["items"]
        assert [c["code"] for c in coupons] == [claimed.json()["coupon"]["code"]]
        # Another shopper sees only their own.
        tom = await shopper_headers(client, admin, "tom")
        assert (await client.get("/v1/me/coupons", headers=tom)).json()["items"] == []
        short = await client.post("/v1/me/claims", json={"reward_id": cheap["id"]}, headers=tom)
        assert short.status_code == 422
        assert short.json()["type"] == "urn:reinforce:problem:insufficient-points"
        # A shopper token is no key for the shop's routes.
        forbidden = await client.get("/v1/rewards", headers=sue)
        assert forbidden.status_code == 403


async def test_shopper_claims_follow_the_redemptions_setting(settings: Any) -> None:
    async with serving(settings) as (client, admin):
        await give_points(client, admin, {"sue": 150})
        reward = await make_reward(client, admin)
        sue = await shopper_headers(client, admin, "sue")
        refused = await client.post("/v1/me/claims", json={"reward_id": reward["id"]}, headers=sue)
        assert refused.status_code == 403
        assert refused.json()["type"] == "urn:reinforce:problem:shopper-redemptions-disabled"
        points = (await client.get("/v1/me", headers=sue)).json()["points"]
        assert points["available"] == 150
