import json
from collections.abc import AsyncIterator

import httpx
from fastapi import FastAPI

from app.auth.scopes import Scope
from tests.conftest import KeyFactory, bearer, make_settings
from tests.factories import purchase
from tests.security.helpers import give_points, serving, shopper_headers

PROBLEM = "application/problem+json"


async def test_api_key_over_its_rate_limit_gets_429(database_url: str) -> None:
    settings = make_settings(database_url, rate_limit="3/minute")
    async with serving(settings) as (client, admin):
        created = await client.post(
            "/v1/api-keys", json={"name": "b", "scopes": ["admin"]}, headers=admin
        )
        assert created.status_code == 201
        assert created.headers["ratelimit-limit"] == "3"
        assert created.headers["ratelimit-remaining"] == "2"
        for _ in range(2):
            assert (await client.get("/v1/api-keys", headers=admin)).status_code == 200
        refused = await client.get("/v1/api-keys", headers=admin)
        assert refused.status_code == 429
        assert refused.headers["content-type"] == PROBLEM
        assert refused.json()["type"] == "urn:reinforce:problem:rate-limited"
        assert 1 <= int(refused.headers["retry-after"]) <= 60
        assert refused.headers["ratelimit-remaining"] == "0"
        # Counted per key: the other key still has its own allowance.
        other = await client.get("/v1/api-keys", headers=bearer(created.json()["key"]))
        assert other.status_code == 200


async def test_limits_are_per_key_and_per_shopper(database_url: str) -> None:
    settings = make_settings(database_url, rate_limit="100/minute", shopper_rate_limit="2/minute")
    async with serving(settings) as (client, admin):
        await give_points(client, admin, {"alice": 1, "bob": 1})
        alice = await shopper_headers(client, admin, "alice")
        bob = await shopper_headers(client, admin, "bob")
        assert [(await client.get("/v1/me", headers=alice)).status_code for _ in range(3)] == [
            200,
            200,
            429,
        ]
        # Bob has his own allowance; a second token for alice does not reset hers.
        assert (await client.get("/v1/me", headers=bob)).status_code == 200
        alice_again = await shopper_headers(client, admin, "alice")
        assert (await client.get("/v1/me", headers=alice_again)).status_code == 429


async def test_an_empty_limit_turns_rate_limiting_off(database_url: str) -> None:
    settings = make_settings(database_url, rate_limit="")
    async with serving(settings) as (client, admin):
        response = await client.get("/v1/api-keys", headers=admin)
        assert response.status_code == 200
        assert "ratelimit-limit" not in response.headers


async def test_body_over_the_limit_is_413_before_parsing(database_url: str) -> None:
    settings = make_settings(database_url, max_body_bytes=2048, max_batch_body_bytes=8192)
    async with serving(settings) as (client, admin):
        big = purchase(order_id="o-big")
        big["data"]["note"] = "x" * 3000
        response = await client.post("/v1/events", json=big, headers=admin)
        assert response.status_code == 413
        assert response.headers["content-type"] == PROBLEM
        assert response.json()["type"] == "urn:reinforce:problem:payload-too-large"

        # Chunked: no Content-Length, the bytes are counted as they arrive.
        async def chunks() -> AsyncIterator[bytes]:
            payload = json.dumps(big).encode()
            for start in range(0, len(payload), 500):
                yield payload[start : start + 500]

        chunked = await client.post(
            "/v1/events",
            content=chunks(),
            headers={**admin, "Content-Type": "application/json"},
        )
        assert "content-length" not in chunked.request.headers
        assert chunked.status_code == 413
        assert chunked.headers["content-type"] == PROBLEM

        # The batch route has its own, larger limit: the same body is parsed there.
        batch = await client.post("/v1/events/batch", json={"events": [big]}, headers=admin)
        assert batch.status_code == 200, batch.text
        assert len(batch.json()["items"]) == 1  # parsed and answered item by item


async def test_cors_allows_only_listed_origins(database_url: str) -> None:
    settings = make_settings(database_url, cors_origins=["https://shop.example"])
    async with serving(settings) as (client, _):
        preflight = {
            "Access-Control-Request-Method": "GET",
            "Access-Control-Request-Headers": "authorization",
        }
        allowed = await client.options(
            "/v1/me", headers={"Origin": "https://shop.example", **preflight}
        )
        assert allowed.status_code == 200
        assert allowed.headers["access-control-allow-origin"] == "https://shop.example"
        assert "authorization" in allowed.headers["access-control-allow-headers"].lower()

        other = await client.options(
            "/v1/me", headers={"Origin": "https://evil.example", **preflight}
        )
        assert other.status_code == 400
        assert "access-control-allow-origin" not in other.headers
        simple = await client.get("/v1/me", headers={"Origin": "https://evil.example"})
        assert "access-control-allow-origin" not in simple.headers
        listed = await client.get("/v1/me", headers={"Origin": "https://shop.example"})
        assert listed.status_code == 401
        assert listed.headers["access-control-allow-origin"] == "https://shop.example"


async def test_no_cors_headers_without_an_allowlist(client: httpx.AsyncClient) -> None:
    response = await client.options(
        "/v1/me",
        headers={"Origin": "https://shop.example", "Access-Control-Request-Method": "GET"},
    )
    assert "access-control-allow-origin" not in response.headers


async def test_revoked_key_stops_working_at_once(
    client: httpx.AsyncClient, admin_headers: dict[str, str], make_key: KeyFactory
) -> None:
    secret = await make_key(Scope.customers_read)
    await give_points(client, admin_headers, {"alice": 1})
    assert (await client.get("/v1/customers/alice", headers=bearer(secret))).status_code == 200
    keys = (await client.get("/v1/api-keys", headers=admin_headers)).json()
    key_id = next(k["id"] for k in keys if secret.startswith(k["prefix"]) and k["name"] == "test")
    assert (await client.delete(f"/v1/api-keys/{key_id}", headers=admin_headers)).status_code == 204
    response = await client.get("/v1/customers/alice", headers=bearer(secret))
    assert response.status_code == 401


async def test_text_no_database_can_store_is_422(
    client: httpx.AsyncClient, admin_headers: dict[str, str]
) -> None:
    # PostgreSQL text and jsonb cannot hold NUL; a lone surrogate is not Unicode. Both
    # arrive only as \u escapes, and are refused before anything is stored.
    headers = {**admin_headers, "Content-Type": "application/json"}
    for raw, pointer in [
        (b'{"name": "a\\u0000b", "scopes": ["admin"]}', "/name"),
        (b'{"name": "ok", "scopes": ["admin"], "x": {"k\\ud800": 1}}', "/x/k\\ud800"),
    ]:
        response = await client.post("/v1/api-keys", content=raw, headers=headers)
        assert response.status_code == 422, raw
        assert response.headers["content-type"] == PROBLEM
        assert response.json()["errors"] == [
            {
                "pointer": pointer,
                "location": "body",
                "detail": "text must be Unicode without NUL characters or unpaired surrogates",
            }
        ]
    # An escaped backslash is ordinary text, and a paired surrogate is an ordinary
    # character: both are kept as sent.
    fine = b'{"name": "C:\\\\u0000 \\ud83d\\ude00", "scopes": ["admin"]}'
    created = await client.post("/v1/api-keys", content=fine, headers=headers)
    assert created.status_code == 201, created.text
    assert created.json()["name"] == "C:\\u0000 \U0001f600"


def test_limits_are_declared_in_the_openapi_document(app: FastAPI) -> None:
    for path, item in app.openapi()["paths"].items():
        for method, operation in item.items():
            responses = operation["responses"]
            if operation.get("security"):
                assert "429" in responses, f"{method} {path}"
            if "requestBody" in operation:
                assert {"400", "413", "422"} <= set(responses), f"{method} {path}"
