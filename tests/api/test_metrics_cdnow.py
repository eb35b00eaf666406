"""Predictive CLTV reproduces the published BG/NBD and Gamma-Gamma estimates on CDNOW.

The purchases of the CDNOW sample are posted through the API, and the fit on the first
39 weeks (to 1997-09-30, time in weeks) must land within 1% of Fader, Hardie & Lee (2005):
r = 0.243, alpha = 4.414, a = 0.793, b = 2.426, and of the Gamma-Gamma estimates of Fader &
Hardie's note on the same data: p = 6.25, q = 3.74, gamma = 15.44.
"""

from datetime import datetime
from pathlib import Path
from typing import Any

import httpx
import pytest

pytest.importorskip("app.metrics.clv")

SAMPLE = Path(__file__).parent.parent / "data" / "cdnow_sample.txt"
PUBLISHED = {
    "r": 0.243,
    "alpha": 4.414,
    "a": 0.793,
    "b": 2.426,
    "p": 6.25,
    "q": 3.74,
    "gamma": 15.44,
}
BATCH = 1000
# The API refuses a zero amount; the sample's 8 free purchases (0.00) are still purchases,
# and transactions for BG/NBD, so they are posted at the smallest amount it takes.
SMALLEST_AMOUNT = "0.0001"


def cdnow_events() -> list[dict[str, Any]]:
    events = []
    for index, line in enumerate(SAMPLE.read_text().splitlines()):
        _, customer, day, _, dollars = line.split()
        amount = dollars if float(dollars) > 0 else SMALLEST_AMOUNT
        occurred = datetime.strptime(day, "%Y%m%d").strftime("%Y-%m-%dT00:00:00+00:00")
        events.append(
            {
                "id": f"cdnow-{index}",
                "type": "purchase",
                "customer_id": f"cdnow-{customer}",
                "occurred_at": occurred,
                "data": {"order_id": f"cdnow-{index}", "amount": amount, "currency": "USD"},
            }
        )
    return events


async def test_cdnow_fit_reproduces_the_published_estimates(
    client: httpx.AsyncClient, admin_headers: dict[str, str]
) -> None:
    events = cdnow_events()
    assert len(events) == 6919
    for start in range(0, len(events), BATCH):
        response = await client.post(
            "/v1/events/batch",
            json={"events": events[start : start + BATCH]},
            headers=admin_headers,
            timeout=300,
        )
        assert response.status_code == 200, response.text
        assert response.json()["failed"] == 0

    params = {"method": "predictive", "to": "1997-09-30", "time_unit": "week"}
    response = await client.get(
        "/v1/metrics/cltv", params=params, headers=admin_headers, timeout=300
    )
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["customers"] == 2357
    for name, published in PUBLISHED.items():
        assert body["params"][name] == pytest.approx(published, rel=0.01), name
    # No stored fit: this one was computed for the answer, and a GET stores nothing.
    assert (body["cached"], body["stored"]) == (False, False)

    assert body["repeat_customers"] == 946
    assert body["fit"]["gamma_gamma_customers"] == 946
    assert len(body["top_customers"]) == 10
    clvs = [c["predicted_clv"] for c in body["top_customers"]]
    assert clvs == sorted(clvs, reverse=True)
    assert sum(b["customers"] for b in body["p_alive"]["histogram"]) == 2357
    best = body["top_customers"][0]
    profile = await client.get(f"/v1/customers/{best['customer_id']}", headers=admin_headers)
    assert profile.json()["prediction"] is None
    summary = await client.get("/v1/metrics", params={"to": "1997-09-30"}, headers=admin_headers)
    assert summary.json()["metrics"]["cltv_predictive"] is None

    fit_body = {"to": "1997-09-30", "time_unit": "week"}
    fitted = await client.post(
        "/v1/metrics/cltv/fits", json=fit_body, headers=admin_headers, timeout=300
    )
    assert fitted.status_code == 201, fitted.text
    stored = fitted.json()
    assert (stored["cached"], stored["stored"]) == (False, True)
    assert stored["to"] == "1997-10-01T00:00:00Z"
    for name, value in body["params"].items():
        assert stored["params"][name] == pytest.approx(value, rel=1e-9), name
    assert stored["total_clv"] == pytest.approx(body["total_clv"], rel=1e-9)

    again = await client.get("/v1/metrics/cltv", params=params, headers=admin_headers)
    assert (again.json()["cached"], again.json()["stored"]) == (True, True)
    assert again.json()["params"] == stored["params"]
    assert again.json()["fitted_at"] == stored["fitted_at"]
    # Other settings reuse the stored parameters; a shorter horizon is worth less.
    shorter = await client.get(
        "/v1/metrics/cltv", params={**params, "horizon_months": 6}, headers=admin_headers
    )
    assert shorter.json()["cached"] is True
    assert shorter.json()["params"] == stored["params"]
    assert 0 < shorter.json()["total_clv"] < stored["total_clv"]

    # Profiles carry the stored fit's predictions, with the settings it was stored with:
    # the 6-month GET changed nothing.
    profile = await client.get(f"/v1/customers/{best['customer_id']}", headers=admin_headers)
    prediction = profile.json()["prediction"]
    assert prediction["window_to"] == "1997-10-01T00:00:00Z"
    assert prediction["p_alive"] == pytest.approx(best["p_alive"], abs=1e-6)
    assert prediction["horizon"] == 12

    refit = await client.post(
        "/v1/metrics/cltv/fits",
        json={**fit_body, "horizon_months": 6},
        headers=admin_headers,
        timeout=300,
    )
    assert refit.status_code == 201, refit.text
    assert refit.json()["fitted_at"] > stored["fitted_at"]
    for name, value in stored["params"].items():
        assert refit.json()["params"][name] == pytest.approx(value, rel=1e-6), name
    assert refit.json()["total_clv"] == pytest.approx(shorter.json()["total_clv"], rel=1e-6)
    profile = await client.get(f"/v1/customers/{best['customer_id']}", headers=admin_headers)
    assert profile.json()["prediction"]["horizon"] == 6

    summary = await client.get("/v1/metrics", params={"to": "1997-09-30"}, headers=admin_headers)
    assert summary.json()["metrics"]["cltv_predictive"]["params"] == refit.json()["params"]

    moved = await client.get(
        "/v1/metrics/cltv", params={**params, "refresh": "true"}, headers=admin_headers
    )
    assert moved.status_code == 422, moved.text
    assert moved.json()["type"] == "urn:reinforce:problem:refit-moved"
