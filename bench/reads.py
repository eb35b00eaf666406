"""Read-side timings on the generated history.

``time_segment_counts`` saves a few segments and times counting each (``GET
/v1/segments/{id}`` answers its ``size``, evaluated live over every customer).

``time_metric_endpoints`` times the predictive CLTV fit (``POST /v1/metrics/cltv/fits``),
the metrics summary and every ``/v1/metrics/{name}`` over the last year of the history,
plus the variants in ``METRIC_VARIANTS``: the stored predictive fit, each breakdown, a
monthly series of each metric, weekly cohorts.
"""

import random
import statistics
import time
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx

from app.metrics.registry import MetricName
from bench.history import MONTHLY_BOARD, POINTS_BOARD, customer_id
from bench.servers import Server

SAMPLE = 300
# Beyond each metric's plain request: the predictive answer, read from the fit stored just
# before (FIT, which times the fit itself); the breakdowns each metric has; a monthly series.
METRIC_VARIANTS: dict[str, list[dict[str, str]]] = {
    name.value: [{"by": "tier"}, {"interval": "month"}]
    for name in MetricName
    if name is not MetricName.cohorts
}
METRIC_VARIANTS["nps"].insert(1, {"by": "channel"})
METRIC_VARIANTS["csat"].insert(1, {"by": "channel"})
METRIC_VARIANTS["cltv"].insert(0, {"method": "predictive", "time_unit": "week"})
METRIC_VARIANTS["cohorts"] = [{"period": "week"}]
FIT_PATH = "/v1/metrics/cltv/fits"
FIT = {"time_unit": "week"}


def _summary(seconds: list[float]) -> dict[str, float]:
    ordered = sorted(seconds)
    return {
        "p50_ms": round(statistics.median(ordered) * 1000, 2),
        "p99_ms": round(ordered[min(len(ordered) - 1, int(0.99 * len(ordered)))] * 1000, 2),
        "max_ms": round(ordered[-1] * 1000, 2),
    }


def time_reads(server: Server, customers: int) -> dict[str, Any]:
    """GET /v1/customers/{id} and its first ledger page for a random sample of customers."""
    chosen = random.Random(8).sample(range(customers), min(SAMPLE, customers))
    timings: dict[str, list[float]] = {"customer": [], "ledger": []}
    with httpx.Client(base_url=server.url, headers=server.headers, timeout=60) as client:
        for index in chosen:
            for name, path in (
                ("customer", f"/v1/customers/{customer_id(index)}"),
                ("ledger", f"/v1/customers/{customer_id(index)}/ledger"),
            ):
                started = time.perf_counter()
                response = client.get(path)
                timings[name].append(time.perf_counter() - started)
                response.raise_for_status()
    return {name: _summary(values) for name, values in timings.items()}


def time_metric_endpoints(server: Server) -> dict[str, Any]:
    """Seconds per metric request over the last year of the generated history."""
    now = datetime.now(UTC)
    window = {"from": (now - timedelta(days=365)).date().isoformat(), "to": now.date().isoformat()}
    requests: list[tuple[str, str, dict[str, str]]] = [
        ("POST", FIT_PATH, FIT),
        ("GET", "/v1/metrics", {}),
    ]
    for name in MetricName:
        path = f"/v1/metrics/{name.value}"
        requests += [
            ("GET", path, {}),
            *(("GET", path, extra) for extra in METRIC_VARIANTS.get(name.value, [])),
        ]
    timed: dict[str, Any] = {}
    with httpx.Client(base_url=server.url, headers=server.headers, timeout=600) as client:
        for method, path, extra in requests:
            label = path + ("?" + "&".join(f"{k}={v}" for k, v in extra.items()) if extra else "")
            started = time.perf_counter()
            if method == "POST":
                # The report gives anything labelled predictive the fit's own budget.
                label = f"POST {label} (predictive)"
                response = client.post(path, json={**window, **extra})
            else:
                response = client.get(path, params={**window, **extra})
            timed[label] = {
                "seconds": round(time.perf_counter() - started, 3),
                "status": response.status_code,
            }
    return timed


# Segments over the generated customers, from a plain column to the ranked RFM score.
SEGMENTS: dict[str, dict[str, Any]] = {
    "tier": {"fact": "customer.tier", "op": "eq", "value": "silver"},
    "recent-frequent": {
        "all": [
            {"fact": "customer.recency_days", "op": "lte", "value": 90},
            {"fact": "customer.frequency", "op": "gte", "value": 2},
        ]
    },
    "champions": {"fact": "customer.rfm_score", "op": "in", "value": ["555", "554", "545"]},
    "promoters": {"fact": "customer.last_nps", "op": "gte", "value": 9},
}


def time_segment_counts(server: Server) -> dict[str, Any]:
    """Seconds to count each of ``SEGMENTS`` (the issue's budget: < 1 s at 100k customers)."""
    timed: dict[str, Any] = {}
    with httpx.Client(base_url=server.url, headers=server.headers, timeout=600) as client:
        for name, condition in SEGMENTS.items():
            body = {"id": f"bench-{name}", "name": name, "condition": condition}
            client.post("/v1/segments", json=body).raise_for_status()
            started = time.perf_counter()
            response = client.get(f"/v1/segments/bench-{name}")
            timed[f"segment size: {name}"] = {
                "seconds": round(time.perf_counter() - started, 3),
                "status": response.status_code,
            }
    return timed


def time_leaderboard_reads(server: Server, customers: int) -> dict[str, Any]:
    """The top 100 and one customer's rank (with two neighbours each side) on the all-time
    points board (a row per customer with points) and the latest month's spend board,
    each for the same random sample of customers."""
    month = datetime.now(UTC).strftime("%Y-%m")
    boards = {"points": (POINTS_BOARD, "current"), "monthly": (MONTHLY_BOARD, month)}
    chosen = random.Random(9).sample(range(customers), min(SAMPLE, customers))
    timings: dict[str, list[float]] = {}
    with httpx.Client(base_url=server.url, headers=server.headers, timeout=60) as client:
        for label, (board, period) in boards.items():
            top, rank = (
                timings.setdefault(f"{label}_top100", []),
                timings.setdefault(f"{label}_rank", []),
            )
            for index in chosen:
                for bucket, path in (
                    (top, f"/v1/leaderboards/{board}/standings"),
                    (rank, f"/v1/leaderboards/{board}/standings/{customer_id(index)}"),
                ):
                    started = time.perf_counter()
                    response = client.get(path, params={"period": period, "limit": 100})
                    bucket.append(time.perf_counter() - started)
                    response.raise_for_status()
    return {name: _summary(values) for name, values in timings.items()}
