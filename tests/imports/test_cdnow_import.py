"""Importing the CDNOW sample as a CSV of orders gives the metrics of posting it over HTTP.

One database gets the sample through ``reinforce import`` (a separate process, as a shop
would run it), the other through ``POST /v1/events/batch``; every metric must agree.
"""

import asyncio
import csv
from collections.abc import AsyncIterator
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from app.main import create_app
from tests.conftest import DatabaseFactory, bearer, make_settings
from tests.imports.cli import reinforce

SAMPLE = Path(__file__).parent.parent / "data" / "cdnow_sample.txt"
WINDOW = {"from": "1997-01-01", "to": "1998-07-01"}
METRICS = ["nps", "csat", "retention", "churn", "repeat-purchase-rate", "referral-rate", "cltv"]


def sample() -> list[tuple[str, str, str, str]]:
    """(order id, customer id, ISO day, dollars) of each line of the sample."""
    rows = []
    for index, line in enumerate(SAMPLE.read_text().splitlines()):
        _, customer, day, _, dollars = line.split()
        occurred = datetime.strptime(day, "%Y%m%d").strftime("%Y-%m-%dT00:00:00+00:00")
        rows.append((f"cdnow-{index}", f"cdnow-{customer}", occurred, dollars))
    return rows


@pytest.fixture
async def other(databases: DatabaseFactory) -> AsyncIterator[tuple[str, httpx.AsyncClient]]:
    """A second migrated database, with its own app and admin key."""
    url = await databases.create(migrated=True)
    application: FastAPI = create_app(make_settings(url))
    try:
        async with application.router.lifespan_context(application):
            from app.auth import service as auth_service
            from app.auth.scopes import Scope

            async with application.state.database.sessionmaker() as session, session.begin():
                _, secret = await auth_service.create_key(session, name="a", scopes=[Scope.admin])
            transport = httpx.ASGITransport(app=application)
            async with httpx.AsyncClient(
                transport=transport, base_url="http://testserver", headers=bearer(secret)
            ) as http:
                yield url, http
    finally:
        await databases.drop(url)


async def metrics(client: httpx.AsyncClient, headers: dict[str, str]) -> dict[str, Any]:
    answers: dict[str, Any] = {}
    queries: list[tuple[str, dict[str, str]]] = [("/v1/metrics", WINDOW)]
    for name in METRICS:
        queries.append((f"/v1/metrics/{name}", WINDOW))
        queries.append((f"/v1/metrics/{name}", {**WINDOW, "interval": "month"}))
    queries.append(("/v1/metrics/cohorts", WINDOW))
    predictive = {"method": "predictive", "to": "1997-09-30", "time_unit": "week"}
    queries.append(("/v1/metrics/cltv", predictive))
    for path, params in queries:
        response = await client.get(path, params=params, headers=headers, timeout=300)
        assert response.status_code == 200, (path, response.text)
        body = response.json()
        # When the fit ran and the liability was taken: the clock, not the data.
        body.pop("fitted_at", None)
        body.get("metrics", {}).get("liability", {}).pop("at", None)
        answers[f"{path}?{sorted(params.items())}"] = body
    return answers


async def test_importing_cdnow_gives_the_metrics_of_posting_it(
    client: httpx.AsyncClient,
    admin_headers: dict[str, str],
    other: tuple[str, httpx.AsyncClient],
    tmp_path: Path,
) -> None:
    rows = sample()
    events = [
        {
            "id": f"order-{order}",
            "type": "purchase",
            "customer_id": customer,
            "occurred_at": occurred,
            "data": {"order_id": order, "amount": dollars, "currency": "USD"},
        }
        for order, customer, occurred, dollars in rows
    ]
    failed = 0
    for start in range(0, len(events), 1000):
        response = await client.post(
            "/v1/events/batch",
            json={"events": events[start : start + 1000]},
            headers=admin_headers,
            timeout=300,
        )
        assert response.status_code == 200, response.text
        failed += response.json()["failed"]
    free = sum(1 for *_, dollars in rows if float(dollars) == 0)
    assert failed == free == 8  # the API refuses a zero amount, and so does the import

    export = tmp_path / "orders.csv"
    with export.open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["Order ID", "Customer ID", "Created at", "Total", "Currency"])
        for order, customer, occurred, dollars in rows:
            writer.writerow([order, customer, occurred[:10], dollars, "USD"])
    url, imported = other
    done = await asyncio.to_thread(reinforce, url, "import", str(export))
    assert done.returncode == 0, done.stderr
    assert f"{len(rows) - free} imported, 0 already there, {free} refused" in done.stdout

    posted = await metrics(client, admin_headers)
    fit = posted[
        "/v1/metrics/cltv?[('method', 'predictive'), ('time_unit', 'week'), ('to', '1997-09-30')]"
    ]
    # The history is there, so the comparison means something: every customer with a paid
    # order in the calibration period (8 of the 2,357 had only their free one).
    paid = {customer for _, customer, day, dollars in rows if float(dollars) and day < "1997-10"}
    assert fit["customers"] == len(paid) == 2349
    assert await metrics(imported, {}) == posted
