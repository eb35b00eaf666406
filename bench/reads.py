"""Read-side timings on the generated history.

``time_metric_endpoints`` is the hook for the metrics API: it times every ``GET`` under
``/v1/metrics`` that the running service's OpenAPI document lists, over the whole history,
so the figures appear by themselves once the metrics work is merged. Extra query variants
to time (the predictive CLTV fit, for instance) go in ``METRIC_VARIANTS``.
"""

import random
import statistics
import time
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx

from bench.history import customer_id
from bench.servers import Server

SAMPLE = 300
# Path -> extra query parameter sets, each timed on its own (e.g. the predictive fit).
METRIC_VARIANTS: dict[str, list[dict[str, str]]] = {
    "/v1/metrics/cltv": [{"model": "predictive"}],
}


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
    """Seconds per metric request over the whole history; empty until the API exists."""
    with httpx.Client(base_url=server.url, headers=server.headers, timeout=300) as client:
        paths = client.get("/openapi.json").json().get("paths", {})
        metric_paths = sorted(
            p for p, ops in paths.items() if p.startswith("/v1/metrics") and "get" in ops
        )
        now = datetime.now(UTC)
        window = {
            "from": (now - timedelta(days=365)).date().isoformat(),
            "to": now.date().isoformat(),
        }
        timed: dict[str, Any] = {}
        for path in metric_paths:
            if "{" in path:
                continue
            for extra in [{}, *METRIC_VARIANTS.get(path, [])]:
                label = path + (
                    "?" + "&".join(f"{k}={v}" for k, v in extra.items()) if extra else ""
                )
                started = time.perf_counter()
                response = client.get(path, params={**window, **extra})
                timed[label] = {
                    "seconds": round(time.perf_counter() - started, 3),
                    "status": response.status_code,
                }
    return timed
