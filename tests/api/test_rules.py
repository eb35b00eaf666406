"""Rules over HTTP: CRUD, validation pointers, versions, limits, explain, dry-run, tiers."""

from typing import Any

import httpx
import pytest

from tests.factories import event, purchase

Headers = dict[str, str]


def rule(rule_id: str | None = None, **fields: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "name": "Bonus",
        "types": ["purchase"],
        "actions": [{"type": "award_points", "points": 10}],
    }
    if rule_id is not None:
        body["id"] = rule_id
    body.update(fields)
    return body


async def create(client: httpx.AsyncClient, headers: Headers, body: dict[str, Any]) -> Any:
    response = await client.post("/v1/rules", json=body, headers=headers)
    assert response.status_code == 201, response.text
    return response.json()


async def post_event(
    client: httpx.AsyncClient, headers: Headers, body: dict[str, Any], query: str = ""
) -> Any:
    response = await client.post(f"/v1/events{query}", json=body, headers=headers)
    assert response.status_code in (200, 201), response.text
    return response.json()


def points(result: Any) -> list[tuple[str | None, int | None]]:
    return [(e["rule_id"], e["points"]) for e in result["effects"] if e["points"] is not None]


async def test_create_get_list_and_delete(
    client: httpx.AsyncClient, admin_headers: Headers
) -> None:
    created = await create(client, admin_headers, rule("bonus", description="ten points"))
    assert created["id"] == "bonus"
    assert created["version"] == 1
    assert created["deleted_at"] is None
    assert created["document"]["description"] == "ten points"

    generated = await create(client, admin_headers, rule(name="Other"))
    assert generated["id"].startswith("rule-")

    listed = (await client.get("/v1/rules", headers=admin_headers)).json()
    assert sorted(r["id"] for r in listed["items"]) == sorted(["bonus", generated["id"]])
    assert listed["ruleset_version"] == 2

    detail = (await client.get("/v1/rules/bonus", headers=admin_headers)).json()
    assert [v["version"] for v in detail["versions"]] == [1]
    assert detail["versions"][0]["ruleset_version"] == 1

    deleted = await client.delete("/v1/rules/bonus", headers=admin_headers)
    assert deleted.status_code == 204
    listed = (await client.get("/v1/rules", headers=admin_headers)).json()
    assert [r["id"] for r in listed["items"]] == [generated["id"]]
    assert listed["ruleset_version"] == 3
    # History stays readable, the id is never reused.
    detail = (await client.get("/v1/rules/bonus", headers=admin_headers)).json()
    assert detail["deleted_at"] is not None
    again = await client.post("/v1/rules", json=rule("bonus"), headers=admin_headers)
    assert again.status_code == 409
    assert again.json()["type"] == "urn:reinforce:problem:rule-id-taken"
    edit = await client.put("/v1/rules/bonus", json=rule(), headers=admin_headers)
    assert edit.status_code == 409

    missing = await client.get("/v1/rules/nope", headers=admin_headers)
    assert missing.status_code == 404
    assert missing.json()["type"] == "urn:reinforce:problem:rule-not-found"


async def test_rules_need_the_rules_scope(client: httpx.AsyncClient, make_key: Any) -> None:
    from app.auth.scopes import Scope

    key = await make_key(Scope.events_write)
    response = await client.get("/v1/rules", headers={"Authorization": f"Bearer {key}"})
    assert response.status_code == 403


@pytest.mark.parametrize(
    ("body", "pointer"),
    [
        (
            rule(
                conditions={
                    "all": [
                        {"fact": "data.amount", "op": "gte", "value": 1},
                        {"fact": "data.nope", "op": "eq", "value": 1},
                    ]
                }
            ),
            "/conditions/all/1/fact",
        ),
        (
            rule(conditions={"fact": "customer.tier", "op": "gt", "value": "gold"}),
            "/conditions/op",
        ),
        (rule(actions=[{"type": "award_points", "points": -5}]), "/actions/0/points"),
        (rule(actions=[{"type": "teleport"}]), "/actions/0/type"),
        (
            rule(limits={"per_customer": {"count": 1, "period": "year"}}),
            "/limits/per_customer/period",
        ),
        (rule("tiers"), "/id"),
    ],
)
async def test_invalid_rules_point_at_the_bad_node(
    client: httpx.AsyncClient, admin_headers: Headers, body: dict[str, Any], pointer: str
) -> None:
    response = await client.post("/v1/rules", json=body, headers=admin_headers)
    assert response.status_code == 422
    problem = response.json()
    assert problem["type"] == "urn:reinforce:problem:validation-error"
    assert pointer in [e["pointer"] for e in problem["errors"]]
    listed = (await client.get("/v1/rules", headers=admin_headers)).json()
    assert listed["items"] == []
    assert listed["ruleset_version"] == 0


async def test_editing_creates_versions_and_events_record_theirs(
    client: httpx.AsyncClient, admin_headers: Headers
) -> None:
    # Before any rule is stored, the default (version 0) gives 1 point per unit.
    first = await post_event(client, admin_headers, purchase(amount="20"))
    assert first["ruleset_version"] == 0
    assert points(first) == [("default-points-per-unit", 20)]

    await create(client, admin_headers, rule("bonus"))
    second = await post_event(client, admin_headers, purchase(amount="20"))
    assert second["ruleset_version"] == 1
    assert points(second) == [("bonus", 10)]

    edited = await client.put(
        "/v1/rules/bonus",
        json=rule(actions=[{"type": "award_points", "points": 30}]),
        headers=admin_headers,
    )
    assert edited.status_code == 200
    assert edited.json()["version"] == 2
    third = await post_event(client, admin_headers, purchase(amount="20"))
    assert third["ruleset_version"] == 2
    assert points(third) == [("bonus", 30)]

    # The same document again changes nothing.
    same = await client.put(
        "/v1/rules/bonus",
        json=rule(actions=[{"type": "award_points", "points": 30}]),
        headers=admin_headers,
    )
    assert same.json()["version"] == 2

    detail = (await client.get("/v1/rules/bonus", headers=admin_headers)).json()
    assert [(v["version"], v["ruleset_version"]) for v in detail["versions"]] == [(1, 1), (2, 2)]
    assert detail["versions"][0]["document"]["actions"][0]["points"] == 10

    v1 = (await client.get("/v1/rules/versions/1", headers=admin_headers)).json()
    assert [(r["id"], r["version"]) for r in v1["rules"]] == [("bonus", 1)]
    assert v1["rules"][0]["document"]["actions"][0]["points"] == 10
    v0 = (await client.get("/v1/rules/versions/0", headers=admin_headers)).json()
    assert [r["id"] for r in v0["rules"]] == ["default-points-per-unit"]
    missing = await client.get("/v1/rules/versions/99", headers=admin_headers)
    assert missing.status_code == 404

    # Disabling is an edit; deleting every rule leaves a ruleset that gives nothing.
    await client.delete("/v1/rules/bonus", headers=admin_headers)
    fourth = await post_event(client, admin_headers, purchase(amount="20"))
    assert fourth["ruleset_version"] == 3
    assert fourth["effects"] == []


async def test_disabled_rules_do_not_fire(
    client: httpx.AsyncClient, admin_headers: Headers
) -> None:
    await create(client, admin_headers, rule("bonus", enabled=False))
    result = await post_event(client, admin_headers, purchase(amount="20"))
    assert result["effects"] == []


async def test_explain_lists_rules_that_did_not_fire_and_why(
    client: httpx.AsyncClient, admin_headers: Headers
) -> None:
    await create(
        client, admin_headers, rule("base", actions=[{"type": "award_points", "per_unit": 1}])
    )
    await create(
        client,
        admin_headers,
        rule(
            "big-orders",
            name="Big orders",
            conditions={"fact": "data.amount", "op": "gte", "value": 100},
        ),
    )
    await create(
        client,
        admin_headers,
        rule("once", name="Once", limits={"per_customer": {"count": 1, "period": "lifetime"}}),
    )
    await create(
        client,
        admin_headers,
        rule(
            "broken",
            name="Broken",
            conditions={"fact": "attributes.size", "op": "gt", "value": 3},
        ),
    )
    first = await post_event(client, admin_headers, purchase(amount="20"), "?explain=true")
    assert points(first) == [("base", 20), ("once", 10)]
    second_body = purchase(amount="20")
    second_body["attributes"] = {"size": "large"}
    second = await post_event(client, admin_headers, second_body, "?explain=true")
    assert points(second) == [("base", 20)]
    reasons = {s["rule_id"]: s["reason"] for s in second["explain"]}
    assert set(reasons) == {"big-orders", "once", "broken"}
    assert "data.amount" in reasons["big-orders"]
    assert reasons["once"] == "limit reached: 1 per lifetime"
    assert reasons["broken"].startswith("error: ")
    # explain is not part of the stored response.
    replay = await post_event(client, admin_headers, second_body)
    assert replay.get("explain") is None


async def test_per_customer_limit_per_month(
    client: httpx.AsyncClient, admin_headers: Headers
) -> None:
    await create(
        client,
        admin_headers,
        rule(
            "reviews",
            types=["review"],
            actions=[{"type": "award_points", "points": 5}],
            limits={"per_customer": {"count": 3, "period": "month"}},
        ),
    )
    earned = []
    for _ in range(5):
        body = event("review", "rita", rating=5)
        body["occurred_at"] = "2026-03-10T12:00:00+00:00"
        earned.append(points(await post_event(client, admin_headers, body)))
    assert earned == [[("reviews", 5)]] * 3 + [[]] * 2
    other = event("review", "rita", rating=4)
    other["occurred_at"] = "2026-04-01T00:00:00+00:00"
    assert points(await post_event(client, admin_headers, other)) == [("reviews", 5)]
    # Another customer has a counter of their own.
    assert points(await post_event(client, admin_headers, event("review", "sam", rating=3))) == [
        ("reviews", 5)
    ]


async def test_budget_stops_issuing(client: httpx.AsyncClient, admin_headers: Headers) -> None:
    await create(
        client,
        admin_headers,
        rule(
            "launch",
            actions=[{"type": "award_points", "points": 40}],
            limits={"budget_points": 100},
        ),
    )
    got = [
        points(await post_event(client, admin_headers, purchase(customer=f"c{i}")))
        for i in range(3)
    ]
    assert got == [[("launch", 40)], [("launch", 40)], []]


async def test_dry_run_writes_nothing_and_consumes_no_limit(
    client: httpx.AsyncClient, admin_headers: Headers
) -> None:
    await create(
        client,
        admin_headers,
        rule(
            "first",
            actions=[
                {"type": "award_points", "points": 50},
                {"type": "award_badge", "badge": "first"},
            ],
            limits={"per_customer": {"count": 1, "period": "lifetime"}, "budget_points": 50},
        ),
    )
    body = purchase(customer="dora")
    dry = await client.post("/v1/events?dry_run=true", json=body, headers=admin_headers)
    assert dry.status_code == 200
    assert points(dry.json()) == [("first", 50)]
    assert dry.json()["balance"]["lifetime_earned"] == 50
    # Nothing was written: no customer, and the limit and budget are still whole.
    assert (await client.get("/v1/customers/dora", headers=admin_headers)).status_code == 404
    real = await post_event(client, admin_headers, body)
    assert points(real) == [("first", 50)]
    customer = (await client.get("/v1/customers/dora", headers=admin_headers)).json()
    assert customer["points"]["lifetime_earned"] == 50


async def test_tier_ladder_moves_customers_up(
    client: httpx.AsyncClient, admin_headers: Headers
) -> None:
    ladder = {
        "tiers": [
            {"tier": "silver", "min_lifetime_points": 100},
            {"tier": "gold", "min_lifetime_points": 300},
        ]
    }
    put = await client.put("/v1/rules/tiers", json=ladder, headers=admin_headers)
    assert put.status_code == 200
    assert put.json()["ruleset_version"] == 1
    got = (await client.get("/v1/rules/tiers", headers=admin_headers)).json()
    assert got == {"ruleset_version": 1, "tiers": ladder["tiers"]}
    await create(
        client, admin_headers, rule("base", actions=[{"type": "award_points", "per_unit": 1}])
    )
    await create(
        client,
        admin_headers,
        rule(
            "gold-x2",
            conditions={"fact": "customer.tier", "op": "eq", "value": "gold"},
            actions=[{"type": "multiply_points", "factor": 2}],
        ),
    )
    first = await post_event(client, admin_headers, purchase(customer="tim", amount="150"))
    assert [(e["action"], e["tier"]) for e in first["effects"] if e["tier"]] == [
        ("set_tier", "silver")
    ]
    second = await post_event(client, admin_headers, purchase(customer="tim", amount="200"))
    assert [e["tier"] for e in second["effects"] if e["tier"]] == ["gold"]
    # Gold doubles from the next event on: 50 base + 50 extra.
    third = await post_event(client, admin_headers, purchase(customer="tim", amount="50"))
    assert points(third) == [("base", 50), ("gold-x2", 50)]
    customer = (await client.get("/v1/customers/tim", headers=admin_headers)).json()
    assert customer["tier"] == "gold"
    bad = await client.put(
        "/v1/rules/tiers",
        json={
            "tiers": [
                {"tier": "a", "min_lifetime_points": 5},
                {"tier": "b", "min_lifetime_points": 5},
            ]
        },
        headers=admin_headers,
    )
    assert bad.status_code == 422
    assert "/tiers/1/min_lifetime_points" in [e["pointer"] for e in bad.json()["errors"]]


async def test_every_action_reaches_the_customer(
    client: httpx.AsyncClient, admin_headers: Headers
) -> None:
    await create(
        client,
        admin_headers,
        rule(
            "all",
            types=["review"],
            actions=[
                {"type": "award_badge", "badge": "critic"},
                {"type": "set_tier", "tier": "vip"},
                {"type": "grant_perk", "perk": "early_access", "expires_in_days": 30},
                {"type": "notify", "notification": "thank_you"},
            ],
        ),
    )
    result = await post_event(client, admin_headers, event("review", "vera", rating=5))
    assert [e["action"] for e in result["effects"]] == [
        "award_badge",
        "set_tier",
        "grant_perk",
        "notify",
    ]
    assert result["effects"][3]["notification"] == "thank_you"
    customer = (await client.get("/v1/customers/vera", headers=admin_headers)).json()
    assert customer["tier"] == "vip"
    assert [b["badge"] if isinstance(b, dict) else b for b in customer["badges"]] == ["critic"]


async def test_fact_catalogue(client: httpx.AsyncClient, admin_headers: Headers) -> None:
    response = await client.get("/v1/rules/facts", headers=admin_headers)
    assert response.status_code == 200
    facts = {f["path"]: f for f in response.json()}
    assert facts["customer.purchase_count"]["kind"] == "integer"
    assert facts["customer.tier"]["nullable"] is True
    assert {"time.weekday", "time.hour", "data.amount", "attributes.<name>"} <= set(facts)
