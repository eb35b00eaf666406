"""The customer list and the profile the shop owns."""

from typing import Any

import httpx

from app.auth.scopes import Scope
from tests.conftest import KeyFactory, bearer
from tests.factories import event, purchase

Headers = dict[str, str]


async def post(client: httpx.AsyncClient, headers: Headers, body: dict[str, Any]) -> None:
    response = await client.post("/v1/events", json=body, headers=headers)
    assert response.status_code == 201, response.text


async def all_pages(
    client: httpx.AsyncClient, headers: Headers, **params: Any
) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = []
    cursor = None
    while True:
        query = {**params, **({"cursor": cursor} if cursor else {})}
        response = await client.get("/v1/customers", params=query, headers=headers)
        assert response.status_code == 200, response.text
        page = response.json()
        assert len(page["items"]) <= params.get("limit", 50)
        items += page["items"]
        cursor = page["next_cursor"]
        if cursor is None:
            return items


async def test_list_pages_newest_first_and_filters(
    client: httpx.AsyncClient, admin_headers: Headers
) -> None:
    names = [f"c{i:02d}" for i in range(7)]
    for name in names:
        await post(client, admin_headers, event("signup", name))
    listed = await all_pages(client, admin_headers, limit=3)
    assert [c["id"] for c in listed] == names[::-1]  # created one after the other
    assert len({c["id"] for c in listed}) == len(names)

    patch = {"display_name": "Ada Lovelace", "reference": "CRM-42"}
    response = await client.patch("/v1/customers/c03", json=patch, headers=admin_headers)
    assert response.status_code == 200, response.text
    assert [c["id"] for c in await all_pages(client, admin_headers, q="LOVE")] == ["c03"]
    assert [c["id"] for c in await all_pages(client, admin_headers, q="crm-4")] == ["c03"]
    assert [c["id"] for c in await all_pages(client, admin_headers, q="c0", limit=2)] == names[::-1]
    # LIKE wildcards in q are taken literally.
    assert await all_pages(client, admin_headers, q="c_") == []
    assert await all_pages(client, admin_headers, q="%") == []

    rule = {
        "id": "per-unit",
        "name": "1 point per unit",
        "types": ["purchase"],
        "actions": [{"type": "award_points", "per_unit": 1}],
    }
    assert (await client.post("/v1/rules", json=rule, headers=admin_headers)).status_code == 201
    tiers = await client.put(
        "/v1/rules/tiers",
        json={"tiers": [{"tier": "silver", "min_lifetime_points": 30}]},
        headers=admin_headers,
    )
    assert tiers.status_code == 200, tiers.text
    await post(client, admin_headers, purchase("c05", "40"))
    assert [c["id"] for c in await all_pages(client, admin_headers, tier="silver")] == ["c05"]
    assert await all_pages(client, admin_headers, tier="gold") == []
    silver = (await all_pages(client, admin_headers, tier="silver"))[0]
    assert silver["aggregates"]["purchase_count"] == 1
    assert silver["tier"] == "silver"


async def test_list_refuses_a_foreign_cursor_and_bad_limits(
    client: httpx.AsyncClient, admin_headers: Headers
) -> None:
    for params in (
        {"cursor": "not-a-cursor"},
        {"cursor": "djE6NQ"},
        {"limit": 0},
        {"q": ""},
        {"q": "a\x00b"},
        {"tier": "gold\n"},
    ):
        response = await client.get("/v1/customers", params=params, headers=admin_headers)
        assert response.status_code == 422, params
        assert response.headers["content-type"] == "application/problem+json"
    response = await client.get("/v1/customers", params={"cursor": "djE6NQ"}, headers=admin_headers)
    assert response.json()["type"] == "urn:reinforce:problem:invalid-cursor"


async def test_patch_changes_only_the_fields_sent(
    client: httpx.AsyncClient, admin_headers: Headers, make_key: KeyFactory
) -> None:
    await post(client, admin_headers, purchase("alice", "10"))
    writer = bearer(await make_key(Scope.customers_write))
    full = {
        "display_name": "  Alice A.  ",
        "reference": "crm:991",
        "marketing_opt_in": True,
        "leaderboard_opt_out": True,
        "birthday": "1990-04-01",
    }
    response = await client.patch("/v1/customers/alice", json=full, headers=writer)
    assert response.status_code == 200, response.text
    profile = response.json()["profile"]
    assert {k: profile[k] for k in full} == {**full, "display_name": "Alice A."}
    assert profile["profile_updated_at"] is not None

    response = await client.patch(
        "/v1/customers/alice", json={"birthday": None, "marketing_opt_in": False}, headers=writer
    )
    assert response.status_code == 200, response.text
    shown = (await client.get("/v1/customers/alice", headers=admin_headers)).json()["profile"]
    assert (shown["birthday"], shown["marketing_opt_in"]) == (None, False)
    assert (shown["display_name"], shown["reference"], shown["leaderboard_opt_out"]) == (
        "Alice A.",
        "crm:991",
        True,
    )
    assert (await client.get("/v1/customers/alice", headers=admin_headers)).json()["points"][
        "available"
    ] == 10


async def test_patch_refuses_bad_values_and_unknown_customers(
    client: httpx.AsyncClient, admin_headers: Headers
) -> None:
    await post(client, admin_headers, purchase("alice", "10"))
    for body in (
        {"birthday": "2999-01-01"},
        {"birthday": "1899-12-31"},
        {"marketing_opt_in": None},
        {"display_name": "x" * 201},
        {"display_name": "   "},
        {"tier": "gold"},
    ):
        response = await client.patch("/v1/customers/alice", json=body, headers=admin_headers)
        assert response.status_code == 422, body
        assert response.json()["errors"], body
    response = await client.patch(
        "/v1/customers/nobody", json={"display_name": "N"}, headers=admin_headers
    )
    assert response.status_code == 404
    assert (await client.get("/v1/customers/nobody", headers=admin_headers)).status_code == 404
    untouched = (await client.get("/v1/customers/alice", headers=admin_headers)).json()
    assert untouched["profile"]["profile_updated_at"] is None
