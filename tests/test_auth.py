import re
import uuid

import httpx
from fastapi import FastAPI
from starlette.routing import Route

from app.auth.scopes import Scope
from app.main import create_app
from tests.conftest import KeyFactory, bearer, make_settings

PROBLEM = "application/problem+json"
PUBLIC_PATHS = {
    "/healthz",
    "/readyz",
    "/openapi.json",
    "/docs",
    "/docs/oauth2-redirect",
    "/redoc",
    "/.well-known/jwks.json",  # public keys that verify shopper tokens
}


async def test_missing_key_is_401_problem(client: httpx.AsyncClient) -> None:
    response = await client.get("/v1/api-keys")
    assert response.status_code == 401
    assert response.headers["content-type"] == PROBLEM
    assert response.headers["www-authenticate"] == "Bearer"
    body = response.json()
    assert body["type"] == "urn:reinforce:problem:unauthorized"
    assert body["status"] == 401
    assert body["instance"] == "/v1/api-keys"


async def test_unknown_and_malformed_keys_are_401(client: httpx.AsyncClient) -> None:
    for header in ("Bearer rk_" + "x" * 43, "Bearer not-a-key", "Basic dXNlcjpwYXNz", "Bearer"):
        response = await client.get("/v1/api-keys", headers={"Authorization": header})
        assert response.status_code == 401, header
        assert response.headers["content-type"] == PROBLEM


async def test_missing_scope_is_403(client: httpx.AsyncClient, make_key: KeyFactory) -> None:
    secret = await make_key(Scope.events_write)
    response = await client.get("/v1/api-keys", headers=bearer(secret))
    assert response.status_code == 403
    assert response.headers["content-type"] == PROBLEM
    assert response.json()["required_scope"] == "admin"


async def test_admin_creates_lists_and_revokes_keys(
    client: httpx.AsyncClient, admin_headers: dict[str, str]
) -> None:
    created = await client.post(
        "/v1/api-keys",
        json={"name": "checkout", "scopes": ["events:write", "customers:read"]},
        headers=admin_headers,
    )
    assert created.status_code == 201
    body = created.json()
    secret = body["key"]
    assert secret.startswith("rk_")
    assert len(secret) > 40
    assert secret.startswith(body["prefix"])
    assert body["scopes"] == ["customers:read", "events:write"]

    listed = await client.get("/v1/api-keys", headers=admin_headers)
    assert listed.status_code == 200
    names = {k["name"]: k for k in listed.json()}
    assert "key" not in names["checkout"]  # the secret is never shown again

    # The new key works for what it holds, and stops working once revoked.
    assert (await client.get("/v1/api-keys", headers=bearer(secret))).status_code == 403
    revoked = await client.delete(f"/v1/api-keys/{body['id']}", headers=admin_headers)
    assert revoked.status_code == 204
    assert (await client.get("/v1/api-keys", headers=bearer(secret))).status_code == 401


async def test_revoking_an_unknown_key_is_404(
    client: httpx.AsyncClient, admin_headers: dict[str, str]
) -> None:
    response = await client.delete(f"/v1/api-keys/{uuid.uuid4()}", headers=admin_headers)
    assert response.status_code == 404
    assert response.headers["content-type"] == PROBLEM


async def test_every_route_but_health_and_docs_requires_a_key(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    # The OpenAPI document lists every API route (none is hidden from it); the
    # remaining top-level routes are the docs pages.
    operations = [
        (method.upper(), path, operation)
        for path, item in app.openapi()["paths"].items()
        for method, operation in item.items()
    ]
    operations += [
        (method, route.path, None)
        for route in app.routes
        if isinstance(route, Route)
        for method in route.methods or ()
    ]
    checked = 0
    for method, path, operation in operations:
        if path in PUBLIC_PATHS:
            continue
        if operation is not None:
            assert operation.get("security") == [{"HTTPBearer": []}], f"{method} {path}"
        concrete = re.sub(r"\{[^}]+\}", "x", path)  # any value for path parameters
        response = await client.request(method, concrete)
        assert response.status_code == 401, f"{method} {path}: {response.status_code}"
        assert response.headers["content-type"] == PROBLEM
        checked += 1
    assert checked >= 4


async def test_bootstrap_key_is_ensured_at_start_up(database_url: str) -> None:
    secret = "rk_bootstrap_" + "a" * 30
    settings = make_settings(database_url, bootstrap_api_key=secret)
    for _ in range(2):  # a second start-up must not fail or duplicate it
        app = create_app(settings)
        async with app.router.lifespan_context(app):
            transport = httpx.ASGITransport(app=app)
            async with httpx.AsyncClient(transport=transport, base_url="http://t") as http:
                response = await http.get("/v1/api-keys", headers=bearer(secret))
                assert response.status_code == 200
                assert [k["name"] for k in response.json()] == ["bootstrap"]
