"""The issue_coupon rule action: a free coupon from the catalog, inside the pipeline."""

from typing import Any

import httpx

from tests.api.test_rewards import VOUCHER, make_reward
from tests.factories import event, when


async def gift_rule(
    client: httpx.AsyncClient, headers: dict[str, str], reward_id: str, rule_id: str = "gift"
) -> None:
    rule = {
        "id": rule_id,
        "name": "Welcome gift",
        "types": ["signup"],
        "actions": [{"type": "issue_coupon", "reward_id": reward_id}],
    }
    response = await client.post("/v1/rules", json=rule, headers=headers)
    assert response.status_code == 201, response.text


async def signup(
    client: httpx.AsyncClient, headers: dict[str, str], customer: str, query: str = ""
) -> dict[str, Any]:
    response = await client.post(
        f"/v1/events{query}", json=event("signup", customer), headers=headers
    )
    assert response.status_code in (200, 201), response.text
    body: dict[str, Any] = response.json()
    return body


def coupon_effects(answer: dict[str, Any]) -> list[dict[str, Any]]:
    return [e for e in answer["effects"] if e["action"] == "issue_coupon"]


async def test_a_rule_hands_out_coupons_while_the_stock_lasts(
    client: httpx.AsyncClient, admin_headers: dict[str, str]
) -> None:
    reward = await make_reward(client, admin_headers, stock=2)
    await gift_rule(client, admin_headers, reward["id"])
    answers = [await signup(client, admin_headers, f"new-{i}") for i in range(3)]
    effects = [coupon_effects(a)[0] for a in answers]
    assert [e["reward_id"] for e in effects] == [reward["id"]] * 3
    assert [e["refused"] for e in effects] == [None, None, "reward-out-of-stock"]
    assert effects[2]["coupon"] is None
    # Free: no points move.
    assert all(a["balance"]["available"] == 0 for a in answers)
    code = effects[0]["coupon"]["code"]
    coupon = (await client.get(f"/v1/coupons/{code}", headers=admin_headers)).json()
    assert (coupon["status"], coupon["customer_id"], coupon["reward_id"]) == (
        "active",
        "new-0",
        reward["id"],
    )
    assert coupon["claim_id"] == effects[0]["coupon"]["claim_id"]
    assert coupon["expires_at"] == effects[0]["coupon"]["expires_at"]
    stock = (await client.get(f"/v1/rewards/{reward['id']}", headers=admin_headers)).json()
    assert stock["stock"] == 0
    mine = (await client.get("/v1/customers/new-1/coupons", headers=admin_headers)).json()
    assert [c["code"] for c in mine["items"]] == [effects[1]["coupon"]["code"]]


async def test_dry_runs_and_explain_show_it_and_change_nothing(
    client: httpx.AsyncClient, admin_headers: dict[str, str]
) -> None:
    reward = await make_reward(client, admin_headers, stock=1)
    await gift_rule(client, admin_headers, reward["id"])
    dry = await signup(client, admin_headers, "dreamer", "?dry_run=true")
    assert coupon_effects(dry)[0]["refused"] is None
    stock = (await client.get(f"/v1/rewards/{reward['id']}", headers=admin_headers)).json()
    assert stock["stock"] == 1
    explained = await signup(client, admin_headers, "real", "?explain=true")
    assert coupon_effects(explained)[0]["coupon"] is not None
    assert explained["explain"] == []


async def test_a_rule_naming_no_reward_fails_nothing(
    client: httpx.AsyncClient, admin_headers: dict[str, str]
) -> None:
    await gift_rule(client, admin_headers, "rwd_gone")
    answer = await signup(client, admin_headers, "someone")
    assert coupon_effects(answer)[0]["refused"] == "unknown-reward"


async def test_pooled_rewards_hand_out_their_codes(
    client: httpx.AsyncClient, admin_headers: dict[str, str]
) -> None:
    reward = await make_reward(client, admin_headers)
    imported = await client.post(
        f"/v1/rewards/{reward['id']}/codes", json={"codes": ["GIFT-A"]}, headers=admin_headers
    )
    assert imported.status_code == 201
    await gift_rule(client, admin_headers, reward["id"])
    # Two in one batch: one unit, one code.
    batch = await client.post(
        "/v1/events/batch",
        json={"events": [event("signup", "p-1"), event("signup", "p-2")]},
        headers=admin_headers,
    )
    results = [item["result"] for item in batch.json()["items"]]
    effects = [coupon_effects(r)[0] for r in results]
    assert [e["coupon"]["code"] if e["coupon"] else e["refused"] for e in effects] == [
        "GIFT-A",
        "reward-out-of-stock",
    ]


async def test_the_backtest_counts_its_firings(
    client: httpx.AsyncClient, admin_headers: dict[str, str]
) -> None:
    reward = await make_reward(client, admin_headers, **{**VOUCHER, "stock": 5})
    for i in range(2):
        await signup(client, admin_headers, f"old-{i}")
    draft = {
        "id": "gift",
        "name": "Welcome gift",
        "types": ["signup"],
        "actions": [{"type": "issue_coupon", "reward_id": reward["id"]}],
    }
    response = await client.post(
        "/v1/rules/backtest",
        json={"rules": [draft], "from": when(1), "to": when(-1)},
        headers=admin_headers,
    )
    assert response.status_code == 200, response.text
    assert [(r["rule_id"], r["events_fired"]) for r in response.json()["rules"]] == [("gift", 2)]
