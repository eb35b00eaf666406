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
    assert body["cached"] is False

    assert body["repeat_customers"] == 946
    assert body["fit"]["gamma_gamma_customers"] == 946
    assert len(body["top_customers"]) == 10
    clvs = [c["predicted_clv"] for c in body["top_customers"]]
    assert clvs == sorted(clvs, reverse=True)
    assert sum(b["customers"] for b in body["p_alive"]["histogram"]) == 2357

    again = await client.get("/v1/metrics/cltv", params=params, headers=admin_headers)
    assert again.json()["cached"] is True
    assert again.json()["params"] == body["params"]
    # Other settings reuse the cached parameters; a shorter horizon is worth less.
    shorter = await client.get(
        "/v1/metrics/cltv", params={**params, "horizon_months": 6}, headers=admin_headers
    )
    assert shorter.json()["cached"] is True
    assert shorter.json()["params"] == body["params"]
    assert 0 < shorter.json()["total_clv"] < body["total_clv"]

    best = body["top_customers"][0]
    profile = await client.get(f"/v1/customers/{best['customer_id']}", headers=admin_headers)
    prediction = profile.json()["prediction"]
    assert prediction["window_to"] == "1997-10-01T00:00:00Z"
    assert prediction["p_alive"] == pytest.approx(best["p_alive"], abs=1e-6)
    assert prediction["horizon"] == 6  # the settings the fit was last answered with

    refit = await client.get(
        "/v1/metrics/cltv", params={**params, "refresh": "true"}, headers=admin_headers
    )
    assert refit.json()["cached"] is False
    assert refit.json()["fitted_at"] > body["fitted_at"]
    for name, value in body["params"].items():
        assert refit.json()["params"][name] == pytest.approx(value, rel=1e-6), name

    summary = await client.get("/v1/metrics", params={"to": "1997-09-30"}, headers=admin_headers)
    assert summary.json()["metrics"]["cltv_predictive"]["params"] == body["params"]
