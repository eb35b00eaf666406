"""Predictive CLTV: the per-customer aggregates the fit reads, computed in SQL."""

from datetime import UTC, date, datetime

import httpx
from fastapi import FastAPI
from sqlalchemy import func, select

from app.metrics.queries.transactions import CustomerRow, customer_rows
from app.models import CltvFit, CltvPrediction
from tests.api.test_metrics import Headers, at, ingest
from tests.factories import purchase


async def test_customer_rows_group_a_days_purchases_into_one_transaction(
    app: FastAPI, client: httpx.AsyncClient, admin_headers: Headers
) -> None:
    await ingest(
        client,
        admin_headers,
        at(purchase("alice", amount="20"), "2026-01-05T10:00:00+00:00"),
        at(purchase("alice", amount="30"), "2026-01-05T18:00:00+00:00"),  # same day: one
        at(purchase("alice", amount="15"), "2026-01-10T08:00:00+00:00"),
        at(purchase("alice", amount="5"), "2026-01-10T09:00:00+00:00"),
        at(purchase("alice", amount="40"), "2026-01-20T09:00:00+00:00"),
        at(purchase("alice", amount="99"), "2026-02-01T00:00:00+00:00"),  # after `to`
        # 23:30 at -01:00 is 00:30 UTC the next day: days are UTC days.
        at(purchase("bob", amount="12.50"), "2026-01-07T23:30:00-01:00"),
        at(purchase("carol", amount="10"), "2026-02-03T00:00:00+00:00"),  # after `to`
    )
    end = datetime(2026, 2, 1, tzinfo=UTC)
    async with app.state.database.read_sessionmaker() as session:
        rows = await customer_rows(session, end, None)
        cohort = await customer_rows(session, end, datetime(2026, 1, 6, tzinfo=UTC))
    # alice: days Jan 5 (50), Jan 10 (20), Jan 20 (40); repeat value 20 + 40.
    assert rows == [
        CustomerRow("alice", date(2026, 1, 5), date(2026, 1, 20), 3, 60.0),
        CustomerRow("bob", date(2026, 1, 8), date(2026, 1, 8), 1, 0.0),
    ]
    # Only customers whose first purchase is on or after the cohort start.
    assert cohort == [CustomerRow("bob", date(2026, 1, 8), date(2026, 1, 8), 1, 0.0)]


async def test_customer_profile_carries_the_latest_fits_prediction(
    app: FastAPI, client: httpx.AsyncClient, admin_headers: Headers
) -> None:
    await ingest(client, admin_headers, at(purchase("alice"), "2026-01-05"))
    response = await client.get("/v1/customers/alice", headers=admin_headers)
    assert response.status_code == 200, response.text
    assert response.json()["prediction"] is None  # no fit yet

    async with app.state.database.sessionmaker() as session, session.begin():
        for index, (fitted_at, clv) in enumerate([(1, 12.5), (2, 30.25)]):
            fit = CltvFit(
                key=f"fit-{index}",
                window_from=None,
                window_to=datetime(2026, 1, 31, tzinfo=UTC),
                time_unit="week",
                fitted_at=datetime(2026, 2, fitted_at, tzinfo=UTC),
                horizon=52.0,
                discount_rate=0.01,
                params={},
                summary={},
            )
            session.add(fit)
            await session.flush()
            session.add(
                CltvPrediction(
                    fit_id=fit.id,
                    customer_id="alice",
                    p_alive=0.5,
                    expected_transactions=1.25,
                    predicted_clv=clv,
                )
            )
    response = await client.get("/v1/customers/alice", headers=admin_headers)
    prediction = response.json()["prediction"]
    # The latest fit wins.
    assert prediction["predicted_clv"] == 30.25
    assert prediction["p_alive"] == 0.5
    assert prediction["fitted_at"] == "2026-02-02T00:00:00Z"
    assert (prediction["time_unit"], prediction["horizon"]) == ("week", 52.0)


async def test_predictive_fit_with_too_little_data_says_how_much_is_needed(
    client: httpx.AsyncClient, admin_headers: Headers
) -> None:
    await ingest(
        client,
        admin_headers,
        at(purchase("alice"), "2026-01-05"),
        at(purchase("alice"), "2026-01-09"),
        at(purchase("bob"), "2026-01-06"),
    )
    params = {"method": "predictive", "to": "2026-01-31"}
    response = await client.get("/v1/metrics/cltv", params=params, headers=admin_headers)
    assert response.status_code == 422, response.text
    problem = response.json()
    assert problem["type"] == "urn:reinforce:problem:insufficient-data"
    assert (problem["what"], problem["needed"], problem["got"]) == ("customers", 10, 2)
    assert "at least 10 customers" in problem["detail"]

    response = await client.get(
        "/v1/metrics/cltv", params={**params, "by": "tier"}, headers=admin_headers
    )
    assert response.json()["type"] == "urn:reinforce:problem:unsupported-breakdown"


async def test_a_fit_is_created_by_post_and_refused_without_enough_data(
    app: FastAPI, client: httpx.AsyncClient, admin_headers: Headers
) -> None:
    await ingest(
        client,
        admin_headers,
        at(purchase("alice"), "2026-01-05"),
        at(purchase("alice"), "2026-01-09"),
        at(purchase("bob"), "2026-01-06"),
    )
    response = await client.post(
        "/v1/metrics/cltv/fits", json={"to": "2026-01-31"}, headers=admin_headers
    )
    assert response.status_code == 422, response.text
    assert response.json()["type"] == "urn:reinforce:problem:insufficient-data"
    for body, pointer in [
        ({"to": "0001-01-02"}, "/to"),
        ({"from": "9999-12-30", "to": "2026-01-31"}, "/from"),
        ({"horizon_months": 121}, "/horizon_months"),
        ({"refresh": True}, "/refresh"),
    ]:
        response = await client.post("/v1/metrics/cltv/fits", json=body, headers=admin_headers)
        assert response.status_code == 422, response.text
        problem = response.json()
        assert problem["type"] == "urn:reinforce:problem:validation-error"
        assert [(e["location"], e["pointer"]) for e in problem["errors"]] == [("body", pointer)]
    response = await client.post(
        "/v1/metrics/cltv/fits",
        json={"from": "2026-02-01", "to": "2026-01-31"},
        headers=admin_headers,
    )
    assert response.json()["type"] == "urn:reinforce:problem:invalid-window"
    async with app.state.database.read_sessionmaker() as session:
        assert (await session.scalar(select(func.count()).select_from(CltvFit))) == 0
