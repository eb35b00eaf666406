"""Each metric on a small history whose numbers are worked out by hand in the comments."""

import random
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest

from app.auth.scopes import Scope
from tests.conftest import KeyFactory, bearer
from tests.factories import event, purchase, refund

Headers = dict[str, str]
FEB = {"from": "2026-02-01", "to": "2026-02-28"}  # [Feb 1, Mar 1)


def at(body: dict[str, Any], occurred_at: str, channel: str | None = None) -> dict[str, Any]:
    body["occurred_at"] = occurred_at if "T" in occurred_at else f"{occurred_at}T12:00:00+00:00"
    if channel:
        body["channel"] = channel
    return body


def answer(customer: str, survey: str, score: int) -> dict[str, Any]:
    return event("feedback", customer, survey=survey, score=score)


async def ingest(client: httpx.AsyncClient, headers: Headers, *events: dict[str, Any]) -> None:
    response = await client.post("/v1/events/batch", json={"events": events}, headers=headers)
    assert response.status_code == 200, response.text
    assert response.json()["failed"] == 0, response.text


async def metric(
    client: httpx.AsyncClient, headers: Headers, name: str, **params: Any
) -> dict[str, Any]:
    response = await client.get(f"/v1/metrics/{name}", params=params, headers=headers)
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    assert body["metric"] == name
    return body


async def test_nps_counts_each_customers_latest_answer_in_the_window(
    client: httpx.AsyncClient, admin_headers: Headers
) -> None:
    await ingest(
        client,
        admin_headers,
        at(answer("alice", "nps", 3), "2026-02-02", "app"),  # superseded by her 10
        at(answer("alice", "nps", 10), "2026-02-20", "web"),  # promoter (web)
        at(answer("bob", "nps", 8), "2026-02-05", "web"),  # passive (web)
        at(answer("carol", "nps", 5), "2026-02-10", "app"),  # detractor (app)
        at(answer("dave", "nps", 9), "2026-02-11", "app"),  # promoter (app)
        at(answer("erin", "nps", 0), "2026-01-31T23:59:59+00:00"),  # before the window
        at(answer("erin", "nps", 0), "2026-03-01T00:00:00+00:00"),  # at `to`: excluded
        at(answer("frank", "csat", 5), "2026-02-11"),  # another survey
    )
    body = await metric(client, admin_headers, "nps", **FEB, by="channel")
    # 4 customers: 2 promoters, 1 passive, 1 detractor: 100 * (2 - 1) / 4.
    assert body["value"] == 25.0
    assert (body["responses"], body["promoters"], body["passives"], body["detractors"]) == (
        4,
        2,
        1,
        1,
    )
    assert body["from"] == "2026-02-01T00:00:00Z"
    assert body["to"] == "2026-03-01T00:00:00Z"
    groups = {g["key"]: g for g in body["groups"]}
    assert groups["web"]["value"] == 50.0  # alice promoter, bob passive: 100 * (1 - 0) / 2
    assert groups["app"]["value"] == 0.0  # carol detractor, dave promoter
    assert groups["app"]["responses"] == 2


async def test_csat_counts_every_answer(client: httpx.AsyncClient, admin_headers: Headers) -> None:
    await ingest(
        client,
        admin_headers,
        *(
            at(answer(who, "csat", score), day)
            for who, score, day in [
                ("alice", 5, "2026-02-01T00:00:00+00:00"),
                ("alice", 4, "2026-02-03"),
                ("bob", 3, "2026-02-04"),
                ("carol", 1, "2026-02-05"),
                ("dave", 5, "2026-02-28T23:59:59+00:00"),
                ("dave", 1, "2026-03-01T00:00:00+00:00"),  # out of the window
            ]
        ),
        at(answer("erin", "nps", 10), "2026-02-05"),
    )
    body = await metric(client, admin_headers, "csat", **FEB)
    # 5 answers, 3 of them 4 or 5: 60 %; mean (5 + 4 + 3 + 1 + 5) / 5 = 3.6.
    assert body["value"] == 60.0
    assert (body["responses"], body["satisfied"], body["mean_score"]) == (5, 3, 3.6)


async def test_without_data_every_metric_is_null_with_a_reason(
    client: httpx.AsyncClient, admin_headers: Headers
) -> None:
    for name in ("nps", "csat", "retention", "churn", "repeat-purchase-rate", "referral-rate"):
        body = await metric(client, admin_headers, name, **FEB)
        assert body["value"] is None, name
        assert body["reason"], name
    body = await metric(client, admin_headers, "cltv", **FEB)
    assert body["value"] is None
    assert body["reason"] == "no purchase in the window"
    body = await metric(client, admin_headers, "cohorts", **FEB)
    assert body["value"] is None
    assert body["cohorts"] == []
    summary = await client.get("/v1/metrics", params=FEB, headers=admin_headers)
    assert summary.status_code == 200, summary.text
    assert summary.json()["metrics"]["nps"]["responses"] == 0


@pytest.mark.parametrize(
    "params",
    [
        {"from": "2026-03-01", "to": "2026-02-01"},
        {"from": "2026-03-01T00:00:00Z", "to": "2026-03-01T00:00:00Z"},
    ],
)
async def test_a_window_that_ends_before_it_starts_is_refused(
    client: httpx.AsyncClient, admin_headers: Headers, params: dict[str, str]
) -> None:
    for path in ("/v1/metrics/nps", "/v1/metrics"):
        response = await client.get(path, params=params, headers=admin_headers)
        assert response.status_code == 422, response.text
        assert response.json()["type"] == "urn:reinforce:problem:invalid-window"


async def test_bad_parameters_are_refused(
    client: httpx.AsyncClient, admin_headers: Headers, make_key: KeyFactory
) -> None:
    for name, params in [
        ("nps", {"from": "2026-02-01T10:00:00"}),  # no offset
        ("nowhere", {}),
        ("cltv", {"margin": "0"}),
        ("nps", {"interval": "year"}),
    ]:
        response = await client.get(f"/v1/metrics/{name}", params=params, headers=admin_headers)
        assert response.status_code == 422, response.text
        assert response.json()["type"] == "urn:reinforce:problem:validation-error"
    for name, params in [
        ("retention", {"by": "channel"}),
        ("cohorts", {"interval": "week"}),
        ("nps", {"interval": "week", "by": "tier"}),
    ]:
        response = await client.get(f"/v1/metrics/{name}", params=params, headers=admin_headers)
        assert response.status_code == 422, response.text
        assert response.json()["type"] == "urn:reinforce:problem:unsupported-breakdown"
    response = await client.get(
        "/v1/metrics/nps", params={"interval": "day", "from": "2020-01-01"}, headers=admin_headers
    )
    assert response.json()["type"] == "urn:reinforce:problem:too-many-periods"
    events_only = bearer(await make_key(Scope.events_write))
    response = await client.get("/v1/metrics/nps", headers=events_only)
    assert response.status_code == 403
    metrics_only = bearer(await make_key(Scope.metrics_read))
    response = await client.get("/v1/metrics/nps", headers=metrics_only)
    assert response.status_code == 200


async def test_retention_and_churn(client: httpx.AsyncClient, admin_headers: Headers) -> None:
    # Big purchases make the customer gold, to break the numbers down by tier.
    rule = {
        "id": "gold",
        "name": "Big spenders are gold",
        "types": ["purchase"],
        "conditions": {"fact": "data.amount", "op": "gte", "value": 100},
        "actions": [{"type": "set_tier", "tier": "gold"}],
    }
    response = await client.post("/v1/rules", json=rule, headers=admin_headers)
    assert response.status_code == 201, response.text
    renewal = event("renewal", "c", subscription_id="sub-1")
    await ingest(
        client,
        admin_headers,
        # Window [Apr 1, Jul 1) with activity_days=30: S is activity in [Mar 2, Apr 1),
        # E is activity in [Jun 1, Jul 1).
        at(purchase("a", amount="10"), "2026-03-10"),
        at(purchase("a", amount="150"), "2026-06-10"),  # a: S and E (gold)
        at(purchase("b", amount="10"), "2026-03-20"),  # b: S only, churned
        at(renewal, "2026-03-25"),
        at(event("renewal", "c", subscription_id="sub-1"), "2026-06-30T23:00:00+00:00"),
        at(purchase("d", amount="10"), "2026-06-15"),  # d: E, first time ever
        at(purchase("e", amount="10"), "2025-12-01"),
        at(purchase("e", amount="10"), "2026-06-20"),  # e: E, reactivated
        at(purchase("f", amount="10"), "2026-04-15"),  # f: neither
        at(purchase("g", amount="10"), "2026-07-01T00:00:00+00:00"),  # after the window
        at(event("review", "h", rating=5), "2026-03-15"),  # a review is not activity
    )
    window = {"from": "2026-04-01", "to": "2026-06-30", "activity_days": 30}
    body = await metric(client, admin_headers, "retention", **window, by="tier")
    # S = {a, b, c}, E = {a, c, d, e}, N = {d, e}: (4 - 2) / 3.
    assert body["value"] == pytest.approx(2 / 3, abs=1e-6)
    assert body["active_at_start"] == 3
    assert body["active_at_end"] == 4
    assert body["new_in_window"] == 2
    assert body["first_time_customers"] == 1
    assert body["reactivated_customers"] == 1
    assert body["retained"] == 2
    groups = {g["key"]: g for g in body["groups"]}
    assert groups["gold"]["value"] == 1.0  # a
    # No tier: S = {b, c}, E = {c, d, e}, N = {d, e}: (3 - 2) / 2.
    assert groups[None]["value"] == 0.5
    churn = await metric(client, admin_headers, "churn", **window)
    assert churn["value"] == pytest.approx(1 / 3, abs=1e-6)
    assert churn["active_at_start"] == 3


async def test_retention_series_tells_first_time_from_returning_customers(
    client: httpx.AsyncClient, admin_headers: Headers
) -> None:
    await ingest(
        client,
        admin_headers,
        # activity_days=30: active at Apr 1 means activity in [Mar 2, Apr 1), at May 1 in
        # [Apr 1, May 1), at Jun 1 in [May 2, Jun 1).
        at(purchase("a"), "2026-03-20"),
        at(purchase("a"), "2026-04-20"),
        at(purchase("b"), "2025-12-01"),
        at(purchase("b"), "2026-04-10"),  # back after a long gap
        at(purchase("c"), "2026-04-25"),  # first activity ever
        at(event("renewal", "d", subscription_id="sub-d"), "2026-05-15"),  # first ever
        at(purchase("e"), "2026-03-01"),  # one day too early to count at Apr 1
        at(purchase("e"), "2026-05-20"),
    )
    body = await metric(
        client,
        admin_headers,
        "retention",
        **{"from": "2026-04-01", "to": "2026-05-31", "interval": "month", "activity_days": 30},
    )
    # Whole window: S = {a}, E = {d, e}, nobody retained; d is new, e had activity before
    # Mar 2.
    assert (body["value"], body["active_at_start"], body["active_at_end"]) == (0.0, 1, 2)
    assert (body["first_time_customers"], body["reactivated_customers"]) == (1, 1)
    fields = (
        "from",
        "value",
        "active_at_start",
        "active_at_end",
        "retained",
        "first_time_customers",
        "reactivated_customers",
    )
    assert [tuple(piece[f] for f in fields) for piece in body["series"]] == [
        # April: S = {a}, E = {a, b, c}; c is new, b returns: (3 - 2) / 1.
        ("2026-04-01T00:00:00Z", 1.0, 1, 3, 1, 1, 1),
        # May: S = {a, b, c}, E = {d, e}; d is new, e returns (active in March): 0 / 3.
        ("2026-05-01T00:00:00Z", 0.0, 3, 2, 0, 1, 1),
    ]


@pytest.mark.parametrize("activity_days", [3, 10, 45])
async def test_retention_series_follows_the_definition_on_random_activity(
    client: httpx.AsyncClient, admin_headers: Headers, activity_days: int
) -> None:
    """Each piece of a weekly series against the definition applied by brute force: active
    at t means a purchase or renewal in [t - activity_days, t). Short spans leave gaps
    inside a piece; long ones carry a customer across several pieces."""
    rng = random.Random(activity_days)
    origin = datetime(2025, 12, 1, tzinfo=UTC)
    activity: list[tuple[str, datetime, str]] = []
    for c in range(30):
        for _ in range(rng.randint(0, 6)):
            moment = origin + timedelta(minutes=rng.randrange(150 * 24 * 60))
            activity.append((f"r{c}", moment, rng.choice(["purchase", "purchase", "renewal"])))
    await ingest(
        client,
        admin_headers,
        *(
            at(
                purchase(customer)
                if kind == "purchase"
                else event("renewal", customer, subscription_id=f"sub-{customer}"),
                moment.isoformat(),
            )
            for customer, moment, kind in activity
        ),
    )
    window = {"from": "2026-02-01", "to": "2026-04-19", "interval": "week"}
    retention = await metric(
        client, admin_headers, "retention", **window, activity_days=activity_days
    )
    cltv = await metric(client, admin_headers, "cltv", **window, activity_days=activity_days)
    repeat = await metric(client, admin_headers, "repeat-purchase-rate", **window)
    span = timedelta(days=activity_days)

    def active_at(moment: datetime) -> set[str]:
        return {c for c, t, _ in activity if moment - span <= t < moment}

    assert len(retention["series"]) == 12  # Sunday Feb 1, then 11 ISO weeks
    pieces = zip(retention["series"], cltv["series"], repeat["series"], strict=True)
    for piece, cltv_piece, repeat_piece in pieces:
        start = datetime.fromisoformat(piece["from"])
        end = datetime.fromisoformat(piece["to"])
        s, e = active_at(start), active_at(end)
        new = e - s
        first_time = {c for c in new if all(t >= start - span for cc, t, _ in activity if cc == c)}
        got = (
            piece["active_at_start"],
            piece["active_at_end"],
            piece["retained"],
            piece["first_time_customers"],
        )
        assert got == (len(s), len(e), len(s & e), len(first_time)), piece["from"]
        assert cltv_piece["retention"] == piece["value"]
        bought = [c for c, t, kind in activity if kind == "purchase" and start <= t < end]
        assert cltv_piece["orders"] == len(bought)
        buyers = set(bought)
        repeaters = {c for c in buyers if bought.count(c) >= 2}
        assert cltv_piece["customers"] == len(buyers)
        got = (repeat_piece["purchasing_customers"], repeat_piece["repeat_customers"])
        assert got == (len(buyers), len(repeaters)), piece["from"]


async def test_nps_and_csat_series(client: httpx.AsyncClient, admin_headers: Headers) -> None:
    await ingest(
        client,
        admin_headers,
        at(answer("a", "nps", 10), "2026-01-05"),
        at(answer("b", "nps", 3), "2026-01-06"),
        at(answer("a", "nps", 2), "2026-02-10"),  # a's latest in February
        at(answer("a", "csat", 5), "2026-01-07"),
        at(answer("b", "csat", 2), "2026-02-08"),
        at(answer("c", "csat", 4), "2026-02-09"),
        at(purchase("a"), "2026-01-05"),  # not an answer
    )
    window = {"from": "2026-01-01", "to": "2026-02-28", "interval": "month"}
    nps = await metric(client, admin_headers, "nps", **window)
    # January: a promoter, b detractor: 0. February: a detractor: -100. Whole window:
    # only each customer's latest answer, a (2) and b (3): -100.
    assert nps["value"] == -100.0
    assert [(p["value"], p["responses"]) for p in nps["series"]] == [(0.0, 2), (-100.0, 1)]
    csat = await metric(client, admin_headers, "csat", **window)
    # January: 1 of 1 satisfied; February: 1 of 2.
    assert csat["value"] == pytest.approx(200 / 3, abs=1e-3)
    assert [(p["value"], p["responses"]) for p in csat["series"]] == [(100.0, 1), (50.0, 2)]


async def test_repeat_purchase_rate_with_a_monthly_series(
    client: httpx.AsyncClient, admin_headers: Headers
) -> None:
    await ingest(
        client,
        admin_headers,
        at(purchase("bob"), "2026-01-15"),
        at(purchase("alice"), "2026-02-02"),
        at(purchase("alice"), "2026-02-03"),
        at(purchase("bob"), "2026-02-04"),
        at(purchase("carol"), "2026-02-05"),
        at(purchase("carol"), "2026-02-06"),
        at(purchase("carol"), "2026-02-07"),
        at(purchase("dave"), "2026-03-01T00:00:00+00:00"),
    )
    body = await metric(client, admin_headers, "repeat-purchase-rate", **FEB)
    # Purchasing in February: alice (2), bob (1), carol (3): 2 of 3 repeat.
    assert body["value"] == pytest.approx(2 / 3, abs=1e-6)
    assert (body["purchasing_customers"], body["repeat_customers"]) == (3, 2)
    series = (
        await metric(
            client,
            admin_headers,
            "repeat-purchase-rate",
            **{"from": "2026-01-10", "to": "2026-02-28", "interval": "month"},
        )
    )["series"]
    # January is partial (from the 10th): bob alone, once.
    assert [(p["from"], p["to"], p["value"]) for p in series] == [
        ("2026-01-10T00:00:00Z", "2026-02-01T00:00:00Z", 0.0),
        ("2026-02-01T00:00:00Z", "2026-03-01T00:00:00Z", pytest.approx(2 / 3, abs=1e-6)),
    ]
    single = await metric(
        client, admin_headers, "repeat-purchase-rate", **{"from": "2026-01-01", "to": "2026-01-31"}
    )
    assert (single["value"], single["purchasing_customers"]) == (0.0, 1)


async def test_referral_rate(client: httpx.AsyncClient, admin_headers: Headers) -> None:
    await ingest(
        client,
        admin_headers,
        at(purchase("olduser"), "2026-01-10"),
        at(purchase("alice"), "2026-02-02"),
        at(event("referral", "alice", referred_customer_id="newbie1"), "2026-02-03"),
        at(purchase("newbie1"), "2026-02-10"),
        at(purchase("bob"), "2026-02-04"),
        # olduser had purchased already: not a new customer.
        at(event("referral", "bob", referred_customer_id="olduser"), "2026-02-05"),
        # carol is not active in February.
        at(event("referral", "carol", referred_customer_id="newbie2"), "2026-02-06"),
    )
    body = await metric(client, admin_headers, "referral-rate", **FEB)
    # Active: alice, bob, newbie1; of them only alice referred a new customer.
    assert body["value"] == pytest.approx(1 / 3, abs=1e-6)
    assert body["active_customers"] == 3
    assert body["referrers"] == 1
    assert body["referred_customers"] == 1
    assert body["referred_purchasers"] == 1


async def test_historical_cltv(client: httpx.AsyncClient, admin_headers: Headers) -> None:
    order = purchase("alice", amount="50")
    await ingest(
        client,
        admin_headers,
        at(purchase("alice", amount="100"), "2025-03-01"),
        at(order, "2025-04-01"),
        at(refund(order["data"]["order_id"], "20", customer="alice"), "2025-04-02"),
        at(purchase("bob", amount="30.00"), "2025-05-01"),
        at(purchase("bob", amount="999"), "2026-01-02"),  # after the window
    )
    # A window of exactly 365.25 days, so the frequency needs no scaling.
    window = {"from": "2025-01-01T00:00:00Z", "to": "2026-01-01T06:00:00Z"}
    body = await metric(client, admin_headers, "cltv", **window, margin="0.5", lifespan_years="2")
    # Net revenue 100 + 30 + 30 over 3 orders; 3 orders / 2 customers a year; 2 years;
    # margin 0.5: 160 / 3 * 1.5 * 2 * 0.5 = 80.
    assert body["method"] == "historical"
    assert body["value"] == pytest.approx(80.0, abs=1e-3)
    assert body["average_order_value"] == pytest.approx(160 / 3, abs=1e-3)
    assert body["purchase_frequency_per_year"] == pytest.approx(1.5, abs=1e-6)
    assert (body["orders"], body["customers"], body["revenue"]) == (3, 2, 160.0)
    assert body["currencies"] == ["EUR"]
    assert body["lifespan_source"] == "given"
    # Without a lifespan it comes from retention, undefined here: nobody active at `from`.
    estimated = await metric(client, admin_headers, "cltv", **window)
    assert estimated["value"] is None
    assert "lifespan" in estimated["reason"]


async def test_summary_gives_every_metric_for_one_window(
    client: httpx.AsyncClient, admin_headers: Headers
) -> None:
    await ingest(
        client,
        admin_headers,
        at(answer("alice", "nps", 10), "2026-02-02"),
        at(purchase("alice"), "2026-02-02"),
        at(purchase("alice"), "2026-02-03"),
    )
    response = await client.get("/v1/metrics", params=FEB, headers=admin_headers)
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["from"] == "2026-02-01T00:00:00Z"
    metrics = body["metrics"]
    assert set(metrics) == {
        "nps",
        "csat",
        "retention",
        "churn",
        "repeat-purchase-rate",
        "referral-rate",
        "cltv",
        "cohorts",
        "cltv_predictive",
        "rewards",
        "liability",
    }
    assert metrics["cltv_predictive"] is None  # never fitted by the summary
    assert metrics["nps"]["value"] == 100.0
    assert metrics["repeat-purchase-rate"]["value"] == 1.0
    assert metrics["cohorts"]["cohorts"][0]["size"] == 1
