"""The rewards catalog, claims and their refusals, coupons at the checkout, voids, pools."""

from datetime import timedelta
from typing import Any

import httpx
import pytest

from app.auth.scopes import Scope
from app.models.base import utcnow
from tests.conftest import KeyFactory, bearer
from tests.security.helpers import give_points

PROBLEM = "urn:reinforce:problem:"

VOUCHER = {
    "name": "10 EUR voucher",
    "cost_points": 100,
    "kind": "discount_fixed",
    "value": "10",
    "currency": "EUR",
    "coupon_validity_days": 30,
}


async def make_reward(
    client: httpx.AsyncClient, headers: dict[str, str], **fields: Any
) -> dict[str, Any]:
    response = await client.post("/v1/rewards", json={**VOUCHER, **fields}, headers=headers)
    assert response.status_code == 201, response.text
    body: dict[str, Any] = response.json()
    return body


async def claim(
    client: httpx.AsyncClient, headers: dict[str, str], customer: str, reward_id: str
) -> httpx.Response:
    return await client.post(
        f"/v1/customers/{customer}/claims", json={"reward_id": reward_id}, headers=headers
    )


def problem(response: httpx.Response, status: int, slug: str) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/problem+json"
    body: dict[str, Any] = response.json()
    assert body["type"] == PROBLEM + slug
    return body


async def test_catalog_crud_and_versions(
    client: httpx.AsyncClient, admin_headers: dict[str, str]
) -> None:
    created = await make_reward(client, admin_headers, stock=3)
    assert created["version"] == 1
    assert created["stock"] == 3
    assert created["value"] == "10"
    reward_id = created["id"]
    listed = (await client.get("/v1/rewards", headers=admin_headers)).json()["items"]
    assert [r["id"] for r in listed] == [reward_id]
    patched = await client.patch(
        f"/v1/rewards/{reward_id}", json={"cost_points": 150}, headers=admin_headers
    )
    assert patched.status_code == 200, patched.text
    assert (patched.json()["version"], patched.json()["cost_points"]) == (2, 150)
    # Stock alone is no new version.
    restocked = await client.patch(
        f"/v1/rewards/{reward_id}", json={"stock": 10}, headers=admin_headers
    )
    assert (restocked.json()["version"], restocked.json()["stock"]) == (2, 10)
    # Valid alone, not with the rest of the reward: a percentage with a currency.
    clash = await client.patch(
        f"/v1/rewards/{reward_id}", json={"kind": "discount_percent"}, headers=admin_headers
    )
    found = problem(clash, 422, "validation-error")
    assert "/currency" in [e["pointer"] for e in found["errors"]]
    unchanged = (await client.get(f"/v1/rewards/{reward_id}", headers=admin_headers)).json()
    assert (unchanged["kind"], unchanged["version"]) == ("discount_fixed", 2)
    deleted = await client.delete(f"/v1/rewards/{reward_id}", headers=admin_headers)
    assert deleted.status_code == 204
    gone = await client.get(f"/v1/rewards/{reward_id}", headers=admin_headers)
    problem(gone, 404, "unknown-reward")


@pytest.mark.parametrize(
    ("fields", "pointer"),
    [
        ({"kind": "discount_fixed", "currency": None}, "/currency"),
        ({"kind": "discount_percent", "value": "150", "currency": None}, "/value"),
        ({"kind": "free_product", "value": None, "currency": None}, "/product_id"),
        ({"kind": "gift"}, "/value"),
        ({"cost_points": 0}, "/cost_points"),
        ({"eligibility": {"fact": "data.amount", "op": "gt", "value": 1}}, "/eligibility/fact"),
        (
            {"eligibility": {"fact": "customer.tier", "op": "gt", "value": [1]}},
            "/eligibility/op",
        ),
        (
            {"active_from": "2030-01-02T00:00:00Z", "active_until": "2030-01-01T00:00:00Z"},
            "/active_until",
        ),
    ],
)
async def test_invalid_rewards_are_refused_at_their_place(
    client: httpx.AsyncClient,
    admin_headers: dict[str, str],
    fields: dict[str, Any],
    pointer: str,
) -> None:
    body = {k: v for k, v in {**VOUCHER, **fields}.items() if v is not None}
    response = await client.post("/v1/rewards", json=body, headers=admin_headers)
    found = problem(response, 422, "validation-error")
    assert pointer in [e["pointer"] for e in found["errors"]], found


async def test_a_claim_spends_points_and_issues_a_coupon(
    client: httpx.AsyncClient, admin_headers: dict[str, str]
) -> None:
    await give_points(client, admin_headers, {"ann": 250})
    reward = await make_reward(client, admin_headers, stock=2)
    response = await client.post(
        "/v1/customers/ann/claims",
        json={"reward_id": reward["id"]},
        headers={**admin_headers, "Idempotency-Key": "claim-1"},
    )
    assert response.status_code == 201, response.text
    body = response.json()
    assert (body["reward_id"], body["reward_version"], body["points"]) == (reward["id"], 1, 100)
    assert body["balance"]["available"] == 150
    assert body["balance"]["redeemed"] == 100
    coupon = body["coupon"]
    assert coupon["status"] == "active"
    assert (coupon["kind"], coupon["value"], coupon["currency"]) == ("discount_fixed", "10", "EUR")
    assert len(coupon["code"]) == 12
    # A retry with the key is the same claim, not a second one.
    again = await client.post(
        "/v1/customers/ann/claims",
        json={"reward_id": reward["id"]},
        headers={**admin_headers, "Idempotency-Key": "claim-1"},
    )
    assert again.status_code == 200
    assert again.json() == body
    ledger = (await client.get("/v1/customers/ann/ledger", headers=admin_headers)).json()
    spent = ledger["items"][0]
    assert (spent["kind"], spent["points"]) == ("redeem", -100)
    assert reward["id"] in spent["reason"]
    assert "10 EUR voucher" in spent["reason"]
    assert spent["reference"] == body["claim_id"]
    left = (await client.get(f"/v1/rewards/{reward['id']}", headers=admin_headers)).json()
    assert left["stock"] == 1


async def test_claim_refusals(client: httpx.AsyncClient, admin_headers: dict[str, str]) -> None:
    await give_points(client, admin_headers, {"bob": 120})
    problem(await claim(client, admin_headers, "bob", "rwd_nothing"), 404, "unknown-reward")
    costly = await make_reward(client, admin_headers, cost_points=500)
    short = problem(
        await claim(client, admin_headers, "bob", costly["id"]), 422, "insufficient-points"
    )
    assert short["missing"] == 380
    empty = await make_reward(client, admin_headers, stock=0)
    problem(await claim(client, admin_headers, "bob", empty["id"]), 409, "reward-out-of-stock")
    later = (utcnow() + timedelta(days=3)).isoformat()
    future = await make_reward(client, admin_headers, active_from=later)
    problem(await claim(client, admin_headers, "bob", future["id"]), 409, "reward-inactive")
    gold = await make_reward(
        client,
        admin_headers,
        eligibility={"fact": "customer.tier", "op": "eq", "value": "gold"},
    )
    refused = problem(
        await claim(client, admin_headers, "bob", gold["id"]), 409, "reward-not-eligible"
    )
    assert refused["condition"] == 'customer.tier eq "gold" was false (missing)'
    once = await make_reward(
        client, admin_headers, cost_points=10, per_customer_limit={"count": 1, "period": "month"}
    )
    assert (await claim(client, admin_headers, "bob", once["id"])).status_code == 201
    problem(await claim(client, admin_headers, "bob", once["id"]), 409, "reward-limit-reached")
    # Nothing a refusal touched changed: only the one claim's 10 points are gone.
    customer = (await client.get("/v1/customers/bob", headers=admin_headers)).json()
    assert customer["points"]["available"] == 110
    problem(await claim(client, admin_headers, "nobody", once["id"]), 404, "not-found")


async def test_eligibility_reads_the_customers_facts(
    client: httpx.AsyncClient, admin_headers: dict[str, str]
) -> None:
    await give_points(client, admin_headers, {"cleo": 500})
    rich = await make_reward(
        client,
        admin_headers,
        eligibility={"fact": "customer.available_points", "op": "gte", "value": 400},
    )
    assert (await claim(client, admin_headers, "cleo", rich["id"])).status_code == 201
    # 400 left now: still eligible; then 300, no longer.
    assert (await claim(client, admin_headers, "cleo", rich["id"])).status_code == 201
    refused = problem(
        await claim(client, admin_headers, "cleo", rich["id"]), 409, "reward-not-eligible"
    )
    assert refused["condition"] == "customer.available_points gte 400 was false (value 300)"


async def test_checkout_redeems_once_and_releases(
    client: httpx.AsyncClient, admin_headers: dict[str, str], make_key: KeyFactory
) -> None:
    checkout = bearer(await make_key(Scope.coupons_redeem))
    await give_points(client, admin_headers, {"dan": 100})
    reward = await make_reward(client, admin_headers)
    code = (await claim(client, admin_headers, "dan", reward["id"])).json()["coupon"]["code"]
    seen = await client.get(f"/v1/coupons/{code}", headers=checkout)
    assert seen.status_code == 200
    assert {k: seen.json()[k] for k in ("status", "customer_id", "reward_id", "kind")} == {
        "status": "active",
        "customer_id": "dan",
        "reward_id": reward["id"],
        "kind": "discount_fixed",
    }
    used = await client.post(
        f"/v1/coupons/{code}/redemptions", json={"order_id": "o-1"}, headers=checkout
    )
    assert used.status_code == 201, used.text
    assert (used.json()["status"], used.json()["order_id"]) == ("used", "o-1")
    twice = await client.post(
        f"/v1/coupons/{code}/redemptions", json={"order_id": "o-2"}, headers=checkout
    )
    assert problem(twice, 409, "coupon-already-used")["order_id"] == "o-1"
    wrong = await client.delete(f"/v1/coupons/{code}/redemptions/o-2", headers=checkout)
    problem(wrong, 404, "coupon-redemption-not-found")
    released = await client.delete(f"/v1/coupons/{code}/redemptions/o-1", headers=checkout)
    assert released.status_code == 200
    assert (released.json()["status"], released.json()["order_id"]) == ("active", None)
    reused = await client.post(
        f"/v1/coupons/{code}/redemptions", json={"order_id": "o-3"}, headers=checkout
    )
    assert reused.status_code == 201
    problem(await client.get("/v1/coupons/NOSUCHCODE", headers=checkout), 404, "unknown-coupon")
    # The checkout's key reads coupons, nothing else; a reading key may not use them.
    assert (await client.get("/v1/customers/dan", headers=checkout)).status_code == 403
    reader = bearer(await make_key(Scope.customers_read))
    assert (await client.get(f"/v1/coupons/{code}", headers=reader)).status_code == 403


async def test_void_gives_the_points_back_unless_used(
    client: httpx.AsyncClient, admin_headers: dict[str, str]
) -> None:
    await give_points(client, admin_headers, {"eve": 300})
    reward = await make_reward(client, admin_headers, stock=5)
    first = (await claim(client, admin_headers, "eve", reward["id"])).json()
    second = (await claim(client, admin_headers, "eve", reward["id"])).json()
    voided = await client.post(f"/v1/claims/{first['claim_id']}/void", headers=admin_headers)
    assert voided.status_code == 200, voided.text
    body = voided.json()
    assert (body["status"], body["points_returned"]) == ("void", 100)
    assert body["coupon"]["status"] == "void"
    assert body["balance"]["available"] == 200
    ledger = (await client.get("/v1/customers/eve/ledger", headers=admin_headers)).json()
    assert (ledger["items"][0]["kind"], ledger["items"][0]["points"]) == ("reverse", 100)
    stock = (await client.get(f"/v1/rewards/{reward['id']}", headers=admin_headers)).json()
    assert stock["stock"] == 4
    again = await client.post(f"/v1/claims/{first['claim_id']}/void", headers=admin_headers)
    problem(again, 409, "claim-already-void")
    code = first["coupon"]["code"]
    void_use = await client.post(
        f"/v1/coupons/{code}/redemptions", json={"order_id": "o-1"}, headers=admin_headers
    )
    problem(void_use, 409, "coupon-void")
    used = second["coupon"]["code"]
    await client.post(
        f"/v1/coupons/{used}/redemptions", json={"order_id": "o-2"}, headers=admin_headers
    )
    refused = await client.post(f"/v1/claims/{second['claim_id']}/void", headers=admin_headers)
    problem(refused, 409, "coupon-already-used")
    problem(
        await client.post("/v1/claims/clm_none/void", headers=admin_headers), 404, "unknown-claim"
    )
    customer = (await client.get("/v1/customers/eve", headers=admin_headers)).json()
    assert customer["points"]["available"] == 200


async def test_expired_coupons_are_refused(
    client: httpx.AsyncClient, admin_headers: dict[str, str], app: Any
) -> None:
    await give_points(client, admin_headers, {"fay": 100})
    reward = await make_reward(client, admin_headers)
    code = (await claim(client, admin_headers, "fay", reward["id"])).json()["coupon"]["code"]
    async with app.state.database.sessionmaker() as session, session.begin():
        from sqlalchemy import update

        from app.models import Coupon

        await session.execute(update(Coupon).where(Coupon.code == code).values(expires_at=utcnow()))
    seen = await client.get(f"/v1/coupons/{code}", headers=admin_headers)
    assert seen.json()["status"] == "expired"
    late = await client.post(
        f"/v1/coupons/{code}/redemptions", json={"order_id": "o-1"}, headers=admin_headers
    )
    problem(late, 409, "coupon-expired")


async def test_pools_hand_out_imported_codes_then_run_out(
    client: httpx.AsyncClient, admin_headers: dict[str, str]
) -> None:
    await give_points(client, admin_headers, {"gus": 1000})
    reward = await make_reward(client, admin_headers)
    imported = await client.post(
        f"/v1/rewards/{reward['id']}/codes",
        json={"codes": ["SHOP-1", "SHOP-2"]},
        headers=admin_headers,
    )
    assert imported.status_code == 201, imported.text
    assert imported.json() == {"reward_id": reward["id"], "imported": 2, "available": 2}
    codes = [
        (await claim(client, admin_headers, "gus", reward["id"])).json()["coupon"]["code"]
        for _ in range(2)
    ]
    assert codes == ["SHOP-1", "SHOP-2"]
    problem(await claim(client, admin_headers, "gus", reward["id"]), 409, "reward-out-of-stock")
    duplicate = await client.post(
        f"/v1/rewards/{reward['id']}/codes",
        json={"codes": ["SHOP-3", "SHOP-1"]},
        headers=admin_headers,
    )
    assert problem(duplicate, 409, "duplicate-codes")["codes"] == ["SHOP-1"]
    twice = await client.post(
        f"/v1/rewards/{reward['id']}/codes", json={"codes": ["A", "A"]}, headers=admin_headers
    )
    problem(twice, 422, "validation-error")
    too_many = await client.post(
        f"/v1/rewards/{reward['id']}/codes",
        json={"codes": [f"C{i}" for i in range(10_001)]},
        headers=admin_headers,
    )
    problem(too_many, 422, "validation-error")
    # Nothing of the refused imports went in, and the spent balance is two claims.
    customer = (await client.get("/v1/customers/gus", headers=admin_headers)).json()
    assert customer["points"]["available"] == 800


async def test_scopes_of_the_catalog(
    client: httpx.AsyncClient, admin_headers: dict[str, str], make_key: KeyFactory
) -> None:
    writer = bearer(await make_key(Scope.rewards_write))
    reader = bearer(await make_key(Scope.customers_read))
    created = await client.post("/v1/rewards", json=VOUCHER, headers=writer)
    assert created.status_code == 201
    assert (await client.post("/v1/rewards", json=VOUCHER, headers=reader)).status_code == 403
    assert (await client.get("/v1/rewards", headers=reader)).status_code == 200
    void = await client.post("/v1/claims/clm_x/void", headers=writer)
    assert void.status_code == 403


async def test_erasure_moves_claims_and_coupons_and_drops_the_referral_code(
    client: httpx.AsyncClient, admin_headers: dict[str, str]
) -> None:
    await give_points(client, admin_headers, {"hal": 100})
    reward = await make_reward(client, admin_headers)
    claimed = (await claim(client, admin_headers, "hal", reward["id"])).json()
    code = (await client.get("/v1/customers/hal/referral-code", headers=admin_headers)).json()[
        "code"
    ]
    erased = await client.delete("/v1/customers/hal", headers=admin_headers)
    assert erased.status_code == 200, erased.text
    assert (erased.json()["records"]["reward_claims"], erased.json()["records"]["coupons"]) == (
        1,
        1,
    )
    coupon = (
        await client.get(f"/v1/coupons/{claimed['coupon']['code']}", headers=admin_headers)
    ).json()
    assert coupon["customer_id"] != "hal"
    body = {
        "id": "evt-after-erasure",
        "type": "signup",
        "customer_id": "ivy",
        "occurred_at": utcnow().isoformat(),
        "data": {"referral_code": code},
    }
    answer = (await client.post("/v1/events", json=body, headers=admin_headers)).json()
    assert answer["referral"]["reason"] == "unknown-code"
