"""The latest detractors and their follow-up flag, stored and shown as `followed_up_at`."""

import asyncio
from datetime import UTC, datetime
from typing import Any

import httpx

from app.auth.scopes import Scope
from tests.conftest import KeyFactory, bearer
from tests.factories import event, purchase

Headers = dict[str, str]


def answer(customer: str, survey: str, score: int, day: int, **data: Any) -> dict[str, Any]:
    body = event("feedback", customer, survey=survey, score=score, **data)
    body["occurred_at"] = f"2026-03-{day:02d}T10:00:00+00:00"
    return body


async def post(client: httpx.AsyncClient, headers: Headers, *events: dict[str, Any]) -> None:
    response = await client.post("/v1/events/batch", json={"events": events}, headers=headers)
    assert response.json()["failed"] == 0, response.text


async def test_detractors_newest_first_with_comments(
    client: httpx.AsyncClient, admin_headers: Headers
) -> None:
    carol = answer("carol", "nps", 6, 3, comment="Slow delivery")
    alice = answer("alice", "nps", 0, 5)
    bob = answer("bob", "nps", 2, 4, comment="Rude support")
    await post(
        client,
        admin_headers,
        carol,
        alice,
        bob,
        answer("dave", "nps", 7, 6, comment="fine"),  # passive
        answer("erin", "nps", 10, 7),  # promoter
        answer("frank", "csat", 1, 8, comment="bad"),  # another survey
    )
    response = await client.get("/v1/feedback/detractors", headers=admin_headers)
    assert response.status_code == 200, response.text
    items = response.json()["items"]
    assert [(i["event_id"], i["customer_id"], i["score"], i["comment"]) for i in items] == [
        (alice["id"], "alice", 0, None),
        (bob["id"], "bob", 2, "Rude support"),
        (carol["id"], "carol", 6, "Slow delivery"),
    ]
    assert all(i["followed_up_at"] is None and i["survey"] == "nps" for i in items)
    limited = await client.get("/v1/feedback/detractors?limit=1", headers=admin_headers)
    assert [i["event_id"] for i in limited.json()["items"]] == [alice["id"]]
    for limit in (0, 101):
        bad = await client.get(f"/v1/feedback/detractors?limit={limit}", headers=admin_headers)
        assert bad.status_code == 422


async def test_the_follow_up_flag_is_stored_and_cleared(
    client: httpx.AsyncClient, admin_headers: Headers
) -> None:
    bob = answer("bob", "nps", 2, 4, comment="Rude support")
    await post(client, admin_headers, bob)
    path = f"/v1/feedback/{bob['id']}/follow-up"
    before = datetime.now(UTC)
    marked = await client.put(path, headers=admin_headers)
    assert marked.status_code == 200, marked.text
    followed_up_at = marked.json()["followed_up_at"]
    assert datetime.fromisoformat(followed_up_at) >= before.replace(microsecond=0)
    # Marking again keeps the first time; the list shows it.
    again = await client.put(path, headers=admin_headers)
    assert again.json()["followed_up_at"] == followed_up_at
    listed = await client.get("/v1/feedback/detractors", headers=admin_headers)
    assert listed.json()["items"][0]["followed_up_at"] == followed_up_at

    cleared = await client.delete(path, headers=admin_headers)
    assert cleared.status_code == 200
    assert cleared.json()["followed_up_at"] is None
    listed = await client.get("/v1/feedback/detractors", headers=admin_headers)
    assert listed.json()["items"][0]["followed_up_at"] is None
    assert (await client.delete(path, headers=admin_headers)).json()["followed_up_at"] is None


async def test_concurrent_marks_store_one_time(
    client: httpx.AsyncClient, admin_headers: Headers
) -> None:
    carol = answer("carol", "nps", 5, 3)
    await post(client, admin_headers, carol)
    path = f"/v1/feedback/{carol['id']}/follow-up"
    answers = await asyncio.gather(*(client.put(path, headers=admin_headers) for _ in range(8)))
    assert {a.status_code for a in answers} == {200}
    assert len({a.json()["followed_up_at"] for a in answers}) == 1


async def test_only_survey_answers_can_be_followed_up(
    client: httpx.AsyncClient, admin_headers: Headers
) -> None:
    order = purchase("alice")
    await post(client, admin_headers, order)
    for event_id in (order["id"], "no-such-event"):
        for method in ("PUT", "DELETE"):
            response = await client.request(
                method, f"/v1/feedback/{event_id}/follow-up", headers=admin_headers
            )
            assert response.status_code == 404, (event_id, method)
            assert response.json()["type"].endswith(":feedback-not-found")
    bad = await client.put(f"/v1/feedback/{'x' * 200}/follow-up", headers=admin_headers)
    assert bad.status_code == 422


async def test_scopes(
    client: httpx.AsyncClient, make_key: KeyFactory, admin_headers: Headers
) -> None:
    bob = answer("bob", "nps", 2, 4)
    await post(client, admin_headers, bob)
    path = f"/v1/feedback/{bob['id']}/follow-up"
    reader = bearer(await make_key(Scope.metrics_read))
    assert (await client.get("/v1/feedback/detractors", headers=reader)).status_code == 200
    refused = await client.put(path, headers=reader)
    assert refused.status_code == 403
    assert refused.json()["required_scope"] == "customers:write"
    writer = bearer(await make_key(Scope.customers_write))
    assert (await client.get("/v1/feedback/detractors", headers=writer)).status_code == 403
    assert (await client.put(path, headers=writer)).status_code == 200
    assert (await client.get("/v1/feedback/detractors")).status_code == 401
