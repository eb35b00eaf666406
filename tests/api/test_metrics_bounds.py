"""Metric windows near the ends of the date range answer a 422 naming the parameter.

Dates outside years 1970 to 9000 used to overflow the window's arithmetic (a date `to`
moves to the next midnight, the default `from` is 90 days before `to`) and answer 500.
"""

from typing import Any

import httpx
import pytest

from tests.api.test_metrics import Headers

METRICS = ("nps", "csat", "retention", "churn", "repeat-purchase-rate", "referral-rate")
PATHS = (
    *(f"/v1/metrics/{name}" for name in (*METRICS, "cltv", "cohorts")),
    "/v1/metrics",
)


@pytest.mark.parametrize(
    ("params", "pointers"),
    [
        ({"from": "9999-12-30", "to": "9999-12-31"}, ["/from", "/to"]),
        ({"to": "0001-01-02"}, ["/to"]),
        ({"from": "0001-01-01", "to": "9999-12-31"}, ["/from", "/to"]),
        ({"from": "2026-01-01", "to": "9000-12-31T23:00:00-05:00"}, []),  # in range
        ({"to": "9001-01-01"}, ["/to"]),
        ({"from": "1969-12-31", "to": "1970-02-01"}, ["/from"]),
        ({"to": "9999-12-31T23:00:00-05:00"}, ["/to"]),
        ({"from": "0001-01-01T00:00:00+05:00", "to": "2026-01-01"}, ["/from"]),
    ],
)
async def test_a_window_outside_the_years_1970_to_9000_is_refused(
    client: httpx.AsyncClient,
    admin_headers: Headers,
    params: dict[str, str],
    pointers: list[str],
) -> None:
    for path in PATHS:
        response = await client.get(path, params=params, headers=admin_headers)
        if not pointers:
            assert response.status_code == 200, (path, response.text)
            continue
        assert response.status_code == 422, (path, response.text)
        assert response.headers["content-type"] == "application/problem+json"
        problem: dict[str, Any] = response.json()
        assert problem["type"] == "urn:reinforce:problem:validation-error"
        errors = problem["errors"]
        assert [e["pointer"] for e in errors] == pointers, path
        assert {e["location"] for e in errors} == {"query"}
        assert all("1970 to 9000" in e["detail"] for e in errors)


async def test_the_edges_of_the_range_are_answered(
    client: httpx.AsyncClient, admin_headers: Headers
) -> None:
    edges = {"from": "1970-01-01", "to": "9000-12-31", "activity_days": 3650}
    for path in PATHS:
        params = {**edges, "period": "week"} if path.endswith("cohorts") else edges
        response = await client.get(path, params=params, headers=admin_headers)
        assert response.status_code == 200, (path, response.text)
        assert response.json()["to"] == "9001-01-01T00:00:00Z"
    response = await client.get(
        "/v1/metrics/cltv",
        params={"method": "predictive", "from": "1970-01-01", "to": "9000-12-31"},
        headers=admin_headers,
    )
    assert response.status_code == 422, response.text
    assert response.json()["type"] == "urn:reinforce:problem:insufficient-data"


async def test_a_number_is_not_an_instant(
    client: httpx.AsyncClient, admin_headers: Headers
) -> None:
    # Read as seconds since 1970 it would be accepted; the document says ISO 8601 text.
    for path in PATHS:
        response = await client.get(path, params={"to": "1767225600"}, headers=admin_headers)
        assert response.status_code == 422, (path, response.text)
        assert [e["pointer"] for e in response.json()["errors"]] == ["/to"]
