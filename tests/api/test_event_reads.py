"""Reading stored events back: one with its answer, or a filtered list newest first."""

from typing import Any

import httpx

from app.auth.scopes import Scope
from tests.conftest import KeyFactory, bearer
from tests.factories import event, purchase

Headers = dict[str, str]


def at(body: dict[str, Any], occurred_at: str) -> dict[str, Any]:
    body["occurred_at"] = occurred_at
    return body


async def listed(client: httpx.AsyncClient, headers: Headers, **params: Any) -> list[str]:
    ids: list[str] = []
    cursor = None
    while True:
        query = {**params, **({"cursor": cursor} if cursor else {})}
        response = await client.get("/v1/events", params=query, headers=headers)
        assert response.status_code == 200, response.text
        page = response.json()
        ids += [item["id"] for item in page["items"]]
        cursor = page["next_cursor"]
        if cursor is None:
            return ids


async def test_one_event_with_its_answer(
    client: httpx.AsyncClient, admin_headers: Headers, make_key: KeyFactory
) -> None:
    body = purchase("alice", "30", attributes={"store": "berlin"}, channel="web")
    posted = await client.post("/v1/events", json=body, headers=admin_headers)
    assert posted.status_code == 201
    reader = bearer(await make_key(Scope.customers_read))
    response = await client.get(f"/v1/events/{body['id']}", headers=reader)
    assert response.status_code == 200, response.text
    stored = response.json()
    assert stored["answer"] == posted.json()
    assert (stored["type"], stored["customer_id"], stored["channel"]) == (
        "purchase",
        "alice",
        "web",
    )
    assert stored["data"] == {**body["data"], "items": None}
    assert stored["attributes"] == {"store": "berlin"}
    assert stored["ruleset_version"] == posted.json()["ruleset_version"]
    missing = await client.get("/v1/events/evt-none", headers=reader)
    assert missing.status_code == 404
    assert missing.headers["content-type"] == "application/problem+json"
    writer = bearer(await make_key(Scope.events_write))
    assert (await client.get(f"/v1/events/{body['id']}", headers=writer)).status_code == 403


async def test_list_filters_and_pages_newest_first(
    client: httpx.AsyncClient, admin_headers: Headers
) -> None:
    bodies = [
        at(purchase("alice", "10"), "2026-02-01T00:00:00+00:00"),
        at(event("review", "alice", rating=5), "2026-02-10T12:00:00+00:00"),
        at(purchase("bob", "20"), "2026-02-10T12:00:00+00:00"),  # same instant as the review
        at(purchase("alice", "30"), "2026-02-28T23:59:59+00:00"),
        at(event("signup", "carol"), "2026-03-01T00:00:00+00:00"),
        at(purchase("bob", "40"), "2026-03-01T09:00:00+01:00"),  # 08:00 UTC
    ]
    for body in bodies:
        response = await client.post("/v1/events", json=body, headers=admin_headers)
        assert response.status_code == 201, response.text
    ids = [b["id"] for b in bodies]
    # Newest first; ties by id, descending.
    tie = sorted([ids[1], ids[2]], reverse=True)
    everything = [ids[5], ids[4], ids[3], *tie, ids[0]]
    assert await listed(client, admin_headers, limit=2) == everything
    assert await listed(client, admin_headers, limit=1, customer_id="alice") == [
        ids[3],
        ids[1],
        ids[0],
    ]
    assert await listed(client, admin_headers, type="purchase", customer_id="bob") == [
        ids[5],
        ids[2],
    ]
    # A date as `to` includes that whole day; `from` is inclusive.
    feb = {"from": "2026-02-01", "to": "2026-02-28"}
    assert await listed(client, admin_headers, **feb) == [ids[3], *tie, ids[0]]
    assert await listed(
        client, admin_headers, **{"from": "2026-03-01T08:00:00Z", "to": "2026-03-02"}
    ) == [ids[5]]
    assert await listed(client, admin_headers, customer_id="nobody") == []


async def test_list_refuses_bad_filters(client: httpx.AsyncClient, admin_headers: Headers) -> None:
    for params in (
        {"from": "2026-03-01", "to": "2026-02-01"},
        {"from": "2026-03-01", "to": "2026-02-28"},
        {"from": "2026-03-01T10:00:00"},  # no offset
        {"to": "3"},  # not seconds since 1970: the document says ISO 8601
        {"from": "1767225600.5"},
        {"type": "teleport"},
        {"customer_id": "has space"},
        {"cursor": "bm9wZQ"},
        {"limit": 201},
    ):
        response = await client.get("/v1/events", params=params, headers=admin_headers)
        assert response.status_code == 422, params
        assert response.headers["content-type"] == "application/problem+json"
    response = await client.get(
        "/v1/events", params={"from": "2026-03-01", "to": "2026-02-01"}, headers=admin_headers
    )
    assert response.json()["type"] == "urn:reinforce:problem:invalid-window"
