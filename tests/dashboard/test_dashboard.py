"""The dashboard in headless Chromium against a real server: sign-in, every page with its
charts drawn from the seeded data, the follow-up flag, and refused keys."""

from collections.abc import AsyncIterator

import httpx
import pytest
from playwright.async_api import Browser, Page

from app.demo.history import customer_id
from tests.dashboard.conftest import SCREENSHOTS, Dashboard

# Page, and how many charts it draws from the seeded data (sparklines apart).
PAGES = {
    "overview": 2,
    "metrics": 1,
    "cohorts": 1,
    "value": 4,
    "programme": 4,
    "experiments": 7,
    "feedback": 1,
    "lookup": 1,
}

# Each chart's series hold at least one number: drawn from data, not empty axes.
CHARTS_WITH_DATA = """() => [...document.querySelectorAll('#page .chart, #page .spark')]
.map((node) => {
  const chart = echarts.getInstanceByDom(node);
  if (!chart) return false;
  return chart.getOption().series.some((s) => (s.data || []).some((d) => {
    const v = Array.isArray(d) ? d[d.length - 1] : (d && typeof d === 'object' ? d.value : d);
    return typeof v === 'number' && !Number.isNaN(v);
  }));
})"""


class Tab:
    """A browser tab and the errors its console and scripts reported."""

    def __init__(self, page: Page) -> None:
        self.page = page
        self.errors: list[str] = []
        page.on(
            "console",
            lambda m: self.errors.append(f"{m.text} {m.location}") if m.type == "error" else None,
        )
        page.on("pageerror", lambda e: self.errors.append(str(e)))


@pytest.fixture
async def tab(browser: Browser, dashboard: Dashboard) -> AsyncIterator[Tab]:
    context = await browser.new_context(viewport={"width": 1400, "height": 1000})
    opened = Tab(await context.new_page())
    await opened.page.goto(f"{dashboard.server.url}/dashboard")
    yield opened
    await context.close()


async def sign_in(page: Page, key: str) -> None:
    await page.get_by_label("API key").fill(key)
    await page.get_by_role("button", name="Sign in").click()


async def open_page(page: Page, name: str) -> None:
    await page.get_by_role("navigation").locator(f'a[href="#{name}"]').click()
    await page.wait_for_function(
        f"() => document.getElementById('page').dataset.page === '{name}' "
        "&& document.getElementById('page').dataset.ready === 'true'"
    )


async def checked(page: Page) -> None:
    """The sign-in check has answered."""
    await page.wait_for_function(
        "() => !document.getElementById('sign-in-error').textContent.startsWith('Checking')"
    )


async def test_every_page_renders_its_charts_from_the_seeded_data(
    tab: Tab, dashboard: Dashboard
) -> None:
    page = tab.page
    await sign_in(page, dashboard.key)
    await page.wait_for_selector("#nav:not([hidden])")
    # The key stays in the tab's sessionStorage, out of the URL.
    assert await page.evaluate("sessionStorage.getItem('reinforce.apiKey')") == dashboard.key
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    for name, charts in PAGES.items():
        await open_page(page, name)
        if name == "lookup":
            await page.get_by_label("Customer id").fill(customer_id(1))
            await page.get_by_role("button", name="Look up").click()
            await page.wait_for_selector("#page .chart[data-rendered]")
        await page.wait_for_function(
            "() => [...document.querySelectorAll('#page .chart, #page .spark')]"
            ".every((n) => n.dataset.rendered)"
        )
        drawn = await page.evaluate(CHARTS_WITH_DATA)
        charts_drawn = await page.locator("#page .chart").count()
        assert charts_drawn == charts, (name, charts_drawn)
        assert all(drawn), (name, drawn)
        errors = await page.locator("#page .error").all_inner_texts()
        assert errors == [], (name, errors)
        assert dashboard.key not in page.url
        await page.screenshot(path=str(SCREENSHOTS / f"{name}.png"), full_page=True)
    assert tab.errors == []


async def test_overview_shows_every_kpi_with_a_sparkline(tab: Tab, dashboard: Dashboard) -> None:
    page = tab.page
    await sign_in(page, dashboard.key)
    await open_page(page, "overview")
    names = await page.locator("#page .card").evaluate_all("cards => cards.map(c => c.dataset.kpi)")
    assert names == [
        "nps", "csat", "retention", "churn", "repeat-purchase-rate", "referral-rate", "cltv",
        "liability",
    ]  # fmt: skip
    assert await page.locator("#page .card .spark").count() == 7
    # The liability card shows what customers' open point lots hold, summed here from each
    # customer's balance as the customers API reports it.
    async with httpx.AsyncClient(
        base_url=dashboard.server.url, headers={"Authorization": f"Bearer {dashboard.key}"}
    ) as client:
        held = 0
        cursor: str | None = None
        while True:
            listed = (
                await client.get(
                    "/v1/customers", params={"limit": 200, **({"cursor": cursor} if cursor else {})}
                )
            ).json()
            for item in listed["items"]:
                points = (await client.get(f"/v1/customers/{item['id']}")).json()["points"]
                held += max(points["available"], 0) + points["pending"]
            cursor = listed.get("next_cursor")
            if not cursor:
                break
    assert held > 0
    shown = await page.locator('#page [data-kpi="liability"] .value').inner_text()
    assert shown == f"{held:,}"
    assert tab.errors == []


async def _followed_up_at(dashboard: Dashboard, event_id: str) -> str | None:
    async with httpx.AsyncClient(base_url=dashboard.server.url) as client:
        answer = await client.get(
            "/v1/feedback/detractors",
            params={"limit": 100},
            headers={"Authorization": f"Bearer {dashboard.key}"},
        )
    assert answer.status_code == 200
    by_id = {item["event_id"]: item for item in answer.json()["items"]}
    followed: str | None = by_id[event_id]["followed_up_at"]
    return followed


async def test_the_follow_up_flag_round_trips(tab: Tab, dashboard: Dashboard) -> None:
    page = tab.page
    await sign_in(page, dashboard.key)
    await open_page(page, "feedback")
    for comment in dashboard.detractor_ids.values():
        assert await page.locator("#page table").get_by_text(comment).count() == 1
    event_id = next(iter(dashboard.detractor_ids))
    selector = f'#page button.follow-up[data-event="{event_id}"]'
    assert await page.locator(selector).get_attribute("aria-pressed") == "false"
    assert await _followed_up_at(dashboard, event_id) is None

    await page.locator(selector).click()
    await page.wait_for_selector(f'{selector}[aria-pressed="true"]')
    assert await _followed_up_at(dashboard, event_id) is not None
    # Stored: after a reload (the same tab, still signed in) the page still shows it.
    await page.reload()
    await page.wait_for_function(
        "() => document.getElementById('page').dataset.page === 'feedback' "
        "&& document.getElementById('page').dataset.ready === 'true'"
    )
    assert await page.locator(selector).get_attribute("aria-pressed") == "true"

    await page.locator(selector).click()
    await page.wait_for_selector(f'{selector}[aria-pressed="false"]')
    assert await _followed_up_at(dashboard, event_id) is None
    assert tab.errors == []


async def test_a_wrong_key_is_refused(tab: Tab, dashboard: Dashboard) -> None:
    page = tab.page
    await sign_in(page, "rk_not_a_key_at_all")
    await checked(page)
    assert "not accepted" in await page.locator("#sign-in-error").inner_text()
    assert await page.locator("#nav").is_hidden()
    assert await page.evaluate("sessionStorage.getItem('reinforce.apiKey')") is None


async def test_a_key_without_metrics_read_is_refused(tab: Tab, dashboard: Dashboard) -> None:
    page = tab.page
    await sign_in(page, dashboard.scopeless_key)
    await checked(page)
    assert "lacks the metrics:read scope" in await page.locator("#sign-in-error").inner_text()
    assert await page.locator("#nav").is_hidden()
