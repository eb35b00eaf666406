"""Customers with points and shopper tokens for them, over HTTP."""

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import httpx

from app.auth import service
from app.auth.scopes import Scope
from app.config import Settings
from app.main import create_app
from tests.conftest import bearer


async def give_points(
    client: httpx.AsyncClient, admin: dict[str, str], points: dict[str, int]
) -> None:
    """Create the customers (a bulk award creates them) with these balances."""
    awards = [{"customer_id": c, "points": p} for c, p in points.items()]
    response = await client.post(
        "/v1/adjustments/bulk",
        json={"reason": "welcome", "awards": awards, "create_customers": True},
        headers=admin,
    )
    assert response.status_code == 201, response.text


async def shopper_token(
    client: httpx.AsyncClient, admin: dict[str, str], customer: str, **body: object
) -> str:
    response = await client.post(f"/v1/customers/{customer}/tokens", json=body, headers=admin)
    assert response.status_code == 201, response.text
    token: str = response.json()["token"]
    return token


async def shopper_headers(
    client: httpx.AsyncClient, admin: dict[str, str], customer: str
) -> dict[str, str]:
    return bearer(await shopper_token(client, admin, customer))


@asynccontextmanager
async def serving(settings: Settings) -> AsyncIterator[tuple[httpx.AsyncClient, dict[str, str]]]:
    """An app built with these settings, a client for it and admin headers."""
    app = create_app(settings)
    async with app.router.lifespan_context(app):
        async with app.state.database.sessionmaker() as session, session.begin():
            _, secret = await service.create_key(session, name="admin", scopes=[Scope.admin])
        transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
            yield client, bearer(secret)
