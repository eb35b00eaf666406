"""The dashboard's overview on the generated history: how long until it has drawn.

In headless Chromium (Debian's, at /usr/bin/chromium, driven by Playwright), from opening
the signed-in overview to the page marking itself ready (every chart drawn), with the
default 90-day window; the first load warms the caches, the second is the figure. Where
there is no browser, the overview's own API calls, made concurrently as the page makes
them, stand in for it (and say so in the label).
"""

import asyncio
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx

from bench.servers import Server

CHROMIUM = Path("/usr/bin/chromium")
KPIS = ("nps", "csat", "retention", "churn", "repeat-purchase-rate", "referral-rate", "cltv")


def _overview_requests() -> list[tuple[str, dict[str, str]]]:
    """What the overview asks for (app/dashboard/static/pages.js, `overview`)."""
    today = datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    end = today + timedelta(days=1)
    window = {"from": (end - timedelta(days=90)).isoformat(), "to": end.isoformat()}
    before = {"from": (end - timedelta(days=180)).isoformat(), "to": window["from"]}
    return [
        ("/v1/metrics", window),
        ("/v1/metrics", before),
        ("/v1/reports/events-per-day", window),
        ("/v1/reports/points-per-week", window),
        *((f"/v1/metrics/{name}", {**window, "interval": "week"}) for name in KPIS),
    ]


async def _api_only(server: Server) -> tuple[float, int]:
    async with httpx.AsyncClient(base_url=server.url, headers=server.headers, timeout=600) as c:
        started = time.perf_counter()
        answers = await asyncio.gather(*(c.get(p, params=q) for p, q in _overview_requests()))
        elapsed = time.perf_counter() - started
    worst = max(a.status_code for a in answers)
    return elapsed, worst


async def _in_browser(server: Server) -> float:
    from playwright.async_api import async_playwright

    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(
            executable_path=str(CHROMIUM),
            args=["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"],
        )
        page = await browser.new_page(viewport={"width": 1400, "height": 1000})
        await page.goto(f"{server.url}/dashboard")
        await page.get_by_label("API key").fill(server.token)
        await page.get_by_role("button", name="Sign in").click()
        ready = "() => document.getElementById('page').dataset.ready === 'true'"
        await page.wait_for_function(ready, timeout=600_000)
        started = time.perf_counter()
        await page.reload()
        await page.wait_for_function(ready, timeout=600_000)
        elapsed = time.perf_counter() - started
        await browser.close()
    return elapsed


def time_overview(server: Server) -> dict[str, Any]:
    try:
        import playwright  # noqa: F401

        browser = CHROMIUM.exists()
    except ImportError:
        browser = False
    if browser:
        seconds = asyncio.run(_in_browser(server))
        return {"dashboard overview, in Chromium": {"seconds": round(seconds, 3), "status": 200}}
    seconds, status = asyncio.run(_api_only(server))
    label = "dashboard overview, its API calls only (no Chromium here)"
    return {label: {"seconds": round(seconds, 3), "status": status}}
