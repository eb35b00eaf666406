"""A real server over a database seeded by the demo loader, and headless Chromium."""

import os
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest
from playwright.async_api import Browser, async_playwright

from app.database import Database
from app.demo.history import customer_id
from app.demo.loader import load_demo
from app.ledger.policy import PointsPolicy
from tests.conftest import DatabaseFactory, make_settings
from tests.factories import event, purchase, when
from tests.server import PROJECT_ROOT, Server, running_server

CHROMIUM = Path(os.environ.get("REINFORCE_TEST_CHROMIUM", "/usr/bin/chromium"))
# Test artefacts, git-ignored: one screenshot per page, for a person to look at.
SCREENSHOTS = PROJECT_ROOT / "var" / "test-artefacts" / "dashboard"

# Detractors with comments (the demo's answers have none), the newest a day ago.
COMMENTS = {
    customer_id(1): "Delivery took three weeks.",
    customer_id(2): "The points expired before I could use them.",
    customer_id(3): "Support never answered.",
}


@dataclass
class Dashboard:
    server: Server
    key: str  # metrics:read, customers:read, customers:write
    scopeless_key: str  # customers:read only
    detractor_ids: dict[str, str]  # event id -> comment


async def _seed(url: str) -> None:
    settings = make_settings(url)
    database = Database.from_settings(settings)
    try:
        await load_demo(database, PointsPolicy.from_settings(settings), customers=40)
    finally:
        await database.dispose()


async def _key(client: httpx.AsyncClient, *scopes: str) -> str:
    answer = await client.post("/v1/api-keys", json={"name": "dashboard", "scopes": list(scopes)})
    assert answer.status_code == 201, answer.text
    secret: str = answer.json()["key"]
    return secret


async def _purchases_today(client: httpx.AsyncClient) -> None:
    """This month's leaderboard standings, and exposures to the demo's experiment."""
    for index in range(1, 41):
        order = purchase(customer_id(index), amount=f"{10 + index * 3}.00")
        order["occurred_at"] = datetime.now(UTC).isoformat()
        answer = await client.post("/v1/events", json=order)
        assert answer.status_code == 201, answer.text


@pytest.fixture(scope="module")
async def dashboard(databases: DatabaseFactory) -> AsyncIterator[Dashboard]:
    if not CHROMIUM.exists():
        pytest.fail(f"headless Chromium is needed at {CHROMIUM} (apt-get install chromium)")
    url = await databases.create(migrated=True)
    try:
        await _seed(url)
        with running_server(url) as server:
            client = httpx.AsyncClient(base_url=server.url, headers=server.headers, timeout=60)
            detractors = {}
            for days_ago, (customer, comment) in enumerate(COMMENTS.items(), start=1):
                body = event("feedback", customer, survey="nps", score=days_ago, comment=comment)
                body["occurred_at"] = when(days_ago)
                answer = await client.post("/v1/events", json=body)
                assert answer.status_code == 201, answer.text
                detractors[body["id"]] = comment
            fit = await client.post("/v1/metrics/cltv/fits", json={})
            assert fit.status_code == 201, fit.text
            await _purchases_today(client)
            dashboard = Dashboard(
                server=server,
                key=await _key(client, "metrics:read", "customers:read", "customers:write"),
                scopeless_key=await _key(client, "customers:read"),
                detractor_ids=detractors,
            )
            await client.aclose()
            yield dashboard
    finally:
        await databases.drop(url)


@pytest.fixture(scope="module")
async def browser() -> AsyncIterator[Browser]:
    async with async_playwright() as playwright:
        chromium = await playwright.chromium.launch(
            executable_path=str(CHROMIUM),
            args=["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"],
        )
        yield chromium
        await chromium.close()
