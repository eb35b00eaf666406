import asyncio
from typing import Any

import httpx
import pytest

from tests.factories import event, purchase, when

PROBLEM = "application/problem+json"


async def post(
    client: httpx.AsyncClient, headers: dict[str, str], body: dict[str, Any]
) -> httpx.Response:
    return await client.post("/v1/events", json=body, headers=headers)


async def test_purchase_earns_a_point_per_whole_currency_unit(
    client: httpx.AsyncClient, admin_headers: dict[str, str]
) -> None:
    body = purchase(amount="49.90")
    response = await post(client, admin_headers, body)
    assert response.status_code == 201
    result = response.json()
    assert result["event_id"] == body["id"]
    assert result["customer_id"] == "alice"
    assert result["status"] == "processed"
    assert [(e["action"], e["points"]) for e in result["effects"]] == [("award_points", 49)]
    assert result["balance"] == {
        "available": 49,
        "pending": 0,
        "lifetime_earned": 49,
        "redeemed": 0,
        "expired": 0,
        "earned": 49,
        "reversed": 0,
        "adjusted": 0,
    }


async def test_other_behaviour_earns_nothing_by_default(
    client: httpx.AsyncClient, admin_headers: dict[str, str]
) -> None:
    response = await post(client, admin_headers, event("review", rating=5, text="great"))
    assert response.status_code == 201
    assert response.json()["effects"] == []
    customer = await client.get("/v1/customers/alice", headers=admin_headers)
    assert customer.status_code == 200  # created on its first event


async def test_replay_answers_the_stored_response(
    client: httpx.AsyncClient, admin_headers: dict[str, str]
) -> None:
    body = purchase()
    first = await post(client, admin_headers, body)
    again = await post(client, admin_headers, body)
    assert again.status_code == 200
    assert again.headers["idempotent-replayed"] == "true"
    assert again.json() == first.json()
    ledger = await client.get("/v1/customers/alice/ledger", headers=admin_headers)
    assert len(ledger.json()["items"]) == 1


async def test_same_id_with_another_body_is_409(
    client: httpx.AsyncClient, admin_headers: dict[str, str]
) -> None:
    body = purchase(amount="10")
    await post(client, admin_headers, body)
    changed = {**body, "data": {**body["data"], "amount": "11"}}
    response = await post(client, admin_headers, changed)
    assert response.status_code == 409
    assert response.headers["content-type"] == PROBLEM
    assert response.json()["type"] == "urn:reinforce:problem:event-id-conflict"
    balance = (await client.get("/v1/customers/alice", headers=admin_headers)).json()["points"]
    assert balance["available"] == 10


async def test_concurrent_duplicates_are_processed_once(
    client: httpx.AsyncClient, admin_headers: dict[str, str]
) -> None:
    body = purchase(amount="25")
    responses = await asyncio.gather(*(post(client, admin_headers, body) for _ in range(20)))
    assert sorted(r.status_code for r in responses) == [200] * 19 + [201]
    assert len({r.text for r in responses}) == 1
    ledger = await client.get("/v1/customers/alice/ledger", headers=admin_headers)
    assert [e["points"] for e in ledger.json()["items"]] == [25]


async def test_an_order_earns_once(
    client: httpx.AsyncClient, admin_headers: dict[str, str]
) -> None:
    await post(client, admin_headers, purchase(order_id="ord-1", amount="30"))
    response = await post(client, admin_headers, purchase(order_id="ord-1", amount="30"))
    assert response.status_code == 409
    assert response.json()["type"] == "urn:reinforce:problem:duplicate-order"


async def test_a_customer_is_referred_once(
    client: httpx.AsyncClient, admin_headers: dict[str, str]
) -> None:
    first = await post(
        client, admin_headers, event("referral", "alice", referred_customer_id="bob")
    )
    assert first.status_code == 201
    again = await post(
        client, admin_headers, event("referral", "carol", referred_customer_id="bob")
    )
    assert again.status_code == 409
    assert again.json()["type"] == "urn:reinforce:problem:duplicate-referral"
    alice = (await client.get("/v1/customers/alice", headers=admin_headers)).json()
    assert alice["aggregates"]["referral_count"] == 1
    carol = await client.get("/v1/customers/carol", headers=admin_headers)
    assert carol.status_code == 404  # the refused event left nothing behind


@pytest.mark.parametrize(
    ("change", "pointer", "needle"),
    [
        ({"type": "teleport"}, "/type", "purchase"),
        ({"occurred_at": "2026-01-01T10:00:00"}, "/occurred_at", "timezone"),
        (
            {"data": {"order_id": "o", "amount": "-5", "currency": "EUR"}},
            "/data/amount",
            "positive decimal",
        ),
        (
            {"data": {"order_id": "o", "amount": -5, "currency": "EUR"}},
            "/data/amount",
            "greater than 0",
        ),
        (
            {"data": {"order_id": "o", "amount": "5", "currency": "eur"}},
            "/data/currency",
            "pattern",
        ),
        ({"data": {"order_id": "o", "amount": "NaN", "currency": "EUR"}}, "/data/amount", ""),
        ({"data": {"order_id": "o", "currency": "EUR"}}, "/data/amount", "required"),
        ({"customer_id": ""}, "/customer_id", ""),
        ({"surprise": 1}, "/surprise", "not permitted"),
    ],
)
async def test_invalid_purchases_are_422_naming_the_field(
    client: httpx.AsyncClient,
    admin_headers: dict[str, str],
    change: dict[str, Any],
    pointer: str,
    needle: str,
) -> None:
    body = {**purchase(), **change}
    response = await post(client, admin_headers, body)
    assert response.status_code == 422
    assert response.headers["content-type"] == PROBLEM
    errors = response.json()["errors"]
    assert [e["pointer"] for e in errors] == [pointer]
    assert needle in errors[0]["detail"]
    assert (await client.get("/v1/customers/alice", headers=admin_headers)).status_code == 404


async def test_unknown_type_lists_the_accepted_types(
    client: httpx.AsyncClient, admin_headers: dict[str, str]
) -> None:
    response = await post(client, admin_headers, {**purchase(), "type": "teleport"})
    detail = response.json()["errors"][0]["detail"]
    for accepted in ("purchase", "refund", "referral", "review", "feedback", "cancellation"):
        assert accepted in detail


@pytest.mark.parametrize(
    ("data", "pointer"),
    [
        ({"survey": "nps", "score": 11}, "/data/score"),
        ({"survey": "nps", "score": -1}, "/data/score"),
        ({"survey": "csat", "score": 0}, "/data/score"),
        ({"survey": "csat", "score": 6}, "/data/score"),
        ({"survey": "ces", "score": 3}, "/data/survey"),
    ],
)
async def test_feedback_scores_are_checked_per_survey(
    client: httpx.AsyncClient, admin_headers: dict[str, str], data: dict[str, Any], pointer: str
) -> None:
    response = await post(client, admin_headers, event("feedback", **data))
    assert response.status_code == 422
    assert [e["pointer"] for e in response.json()["errors"]] == [pointer]


async def test_valid_feedback_is_accepted(
    client: httpx.AsyncClient, admin_headers: dict[str, str]
) -> None:
    for data in ({"survey": "nps", "score": 0}, {"survey": "csat", "score": 5, "comment": "ok"}):
        assert (await post(client, admin_headers, event("feedback", **data))).status_code == 201


async def test_self_referral_is_refused(
    client: httpx.AsyncClient, admin_headers: dict[str, str]
) -> None:
    response = await post(
        client, admin_headers, event("referral", "alice", referred_customer_id="alice")
    )
    assert response.status_code == 422
    errors = response.json()["errors"]
    assert [e["pointer"] for e in errors] == ["/data/referred_customer_id"]


async def test_events_need_the_events_scope(client: httpx.AsyncClient, make_key: Any) -> None:
    from app.auth.scopes import Scope
    from tests.conftest import bearer

    reader = bearer(await make_key(Scope.customers_read))
    assert (await post(client, reader, purchase())).status_code == 403
    writer = bearer(await make_key(Scope.events_write))
    assert (await post(client, writer, purchase())).status_code == 201


async def test_dry_run_writes_nothing(
    client: httpx.AsyncClient, admin_headers: dict[str, str]
) -> None:
    body = purchase(amount="80")
    response = await client.post("/v1/events?dry_run=true", json=body, headers=admin_headers)
    assert response.status_code == 200
    assert response.json()["effects"][0]["points"] == 80
    assert (await client.get("/v1/customers/alice", headers=admin_headers)).status_code == 404
    real = await post(client, admin_headers, body)
    assert real.status_code == 201  # the id was not consumed by the dry run


async def test_explain_lists_rules_that_did_not_fire(
    client: httpx.AsyncClient, admin_headers: dict[str, str]
) -> None:
    response = await client.post(
        "/v1/events?explain=true", json=event("review", rating=4), headers=admin_headers
    )
    assert response.status_code == 201
    assert response.json()["explain"] == []  # the default rule does not apply to reviews at all
    response = await client.post("/v1/events?explain=true", json=purchase(), headers=admin_headers)
    assert response.json()["effects"][0]["rule_id"] == "default-points-per-unit"


async def test_out_of_order_events_keep_the_earliest_first_seen(
    client: httpx.AsyncClient, admin_headers: dict[str, str]
) -> None:
    await post(client, admin_headers, {**purchase(), "occurred_at": when(days_ago=1)})
    await post(client, admin_headers, {**purchase(), "occurred_at": when(days_ago=10)})
    customer = (await client.get("/v1/customers/alice", headers=admin_headers)).json()
    assert customer["first_seen_at"].startswith(when(days_ago=10)[:10])
    assert customer["aggregates"]["purchase_count"] == 2
