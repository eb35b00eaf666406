"""Every route against every kind of caller: no key, the wrong scope, the right scope,
a shopper token for the customer in the path, and one for another customer."""

import re
import uuid

import httpx
from fastapi import FastAPI
from fastapi.dependencies.models import Dependant
from fastapi.routing import APIRoute
from starlette.routing import BaseRoute

from app.auth.dependencies import RequireScope, require_shopper
from app.auth.scopes import Scope
from tests.conftest import KeyFactory, bearer
from tests.security.helpers import give_points, shopper_headers

SHOPPER = "shopper"


def _requirement(dependant: Dependant) -> Scope | str | None:
    for sub in dependant.dependencies:
        if isinstance(sub.call, RequireScope):
            return sub.call.scope
        if sub.call is require_shopper:
            return SHOPPER
        found = _requirement(sub)
        if found is not None:
            return found
    return None


def _api_routes(routes: list[BaseRoute], prefix: str = "") -> list[tuple[str, APIRoute]]:
    found: list[tuple[str, APIRoute]] = []
    for route in routes:
        if isinstance(route, APIRoute):
            found.append((prefix + route.path, route))
        # FastAPI keeps included routers as they are (routes resolved lazily).
        included = getattr(route, "original_router", None)
        if included is not None:
            context = getattr(route, "include_context", None)
            found += _api_routes(included.routes, prefix + getattr(context, "prefix", ""))
    return found


def _routes(app: FastAPI) -> list[tuple[str, str, Scope | str]]:
    routes = []
    for path, route in _api_routes(app.routes):
        requirement = _requirement(route.dependant)
        if requirement is None:
            continue  # public: health, JWKS (tests/test_auth.py lists them)
        for method in sorted(route.methods):
            routes.append((method, path, requirement))
    return routes


def _concrete(path: str) -> str:
    path = path.replace("{customer_id}", "alice")
    path = path.replace("{key_id}", str(uuid.uuid4()))
    return re.sub(r"\{[^}]+\}", "x", path)


async def test_authorization_matrix(
    app: FastAPI,
    client: httpx.AsyncClient,
    admin_headers: dict[str, str],
    make_key: KeyFactory,
) -> None:
    await give_points(client, admin_headers, {"alice": 50, "bob": 50})
    alice = await shopper_headers(client, admin_headers, "alice")
    bob = await shopper_headers(client, admin_headers, "bob")
    non_admin = [s for s in Scope if s is not Scope.admin]
    routes = _routes(app)
    secured = {
        (method.upper(), path)
        for path, item in app.openapi()["paths"].items()
        for method, operation in item.items()
        if operation.get("security")
    }
    assert {(method, path) for method, path, _ in routes} == secured  # none missed
    assert {r for _, _, r in routes} >= {Scope.admin, Scope.customers_read, SHOPPER}

    async def call(method: str, path: str, headers: dict[str, str]) -> int:
        body = {} if method in {"POST", "PUT", "PATCH"} else None
        response = await client.request(method, _concrete(path), json=body, headers=headers)
        assert response.status_code < 500, f"{method} {path}: {response.text}"
        if response.status_code in {401, 403}:
            assert response.headers["content-type"] == "application/problem+json"
        return response.status_code

    for method, path, requirement in routes:
        where = f"{method} {path}"
        assert await call(method, path, {}) == 401, where
        if requirement == SHOPPER:
            # Only a shopper token opens it, and it is always the token's own customer.
            for scopes in ([Scope.admin], non_admin):
                key = bearer(await make_key(*scopes))
                assert await call(method, path, key) == 403, where
            assert await call(method, path, alice) not in {401, 403}, where
            assert await call(method, path, bob) not in {401, 403}, where
            continue
        wrong = [s for s in non_admin if s != requirement]
        assert await call(method, path, bearer(await make_key(*wrong))) == 403, where
        right = bearer(await make_key(Scope(requirement)))
        assert await call(method, path, right) not in {401, 403}, where
        # A shopper token opens no API-key route: not for another customer, nor its own.
        assert await call(method, path, alice) == 403, where
        assert await call(method, path, bob) == 403, where

    # What the shopper routes answered was each shopper's own data. The erasure route has
    # erased alice (and any later route saw her as unknown): her next award recreates her.
    await give_points(client, admin_headers, {"alice": 1, "bob": 1})
    assert (await client.get("/v1/me", headers=alice)).json()["id"] == "alice"
    assert (await client.get("/v1/me", headers=bob)).json()["id"] == "bob"
