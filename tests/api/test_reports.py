"""The reports: counts worked out by hand from the events each test posts."""

from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import httpx
import pytest

from app.auth.scopes import Scope
from app.demo.history import synthetic_events
from tests.conftest import KeyFactory, bearer
from tests.factories import event, purchase

Headers = dict[str, str]
FEB = {"from": "2026-02-02", "to": "2026-02-15"}  # Monday Feb 2 to Sunday Feb 15, inclusive


def at(body: dict[str, Any], occurred_at: str) -> dict[str, Any]:
    body["occurred_at"] = f"{occurred_at}T12:00:00+00:00"
    return body


async def ingest(client: httpx.AsyncClient, headers: Headers, *events: dict[str, Any]) -> None:
    response = await client.post("/v1/events/batch", json={"events": events}, headers=headers)
    assert response.status_code == 200, response.text
    assert response.json()["failed"] == 0, response.text


async def rules(client: httpx.AsyncClient, headers: Headers) -> None:
    for rule in (
        {"id": "buy", "name": "Buy", "types": ["purchase"],
         "actions": [{"type": "award_points", "points": 10}]},
        {"id": "review", "name": "Review", "types": ["review"],
         "actions": [{"type": "award_points", "points": 3}]},
    ):  # fmt: skip
        assert (await client.post("/v1/rules", json=rule, headers=headers)).status_code == 201
    tiers = {"tiers": [{"tier": "silver", "min_lifetime_points": 20}]}
    assert (await client.put("/v1/rules/tiers", json=tiers, headers=headers)).status_code == 200


async def test_events_per_day_count_each_type_on_each_day(
    client: httpx.AsyncClient, admin_headers: Headers
) -> None:
    await ingest(
        client,
        admin_headers,
        at(purchase("alice"), "2026-02-02"),
        at(purchase("bob"), "2026-02-02"),
        at(event("review", "alice", rating=5), "2026-02-02"),
        at(purchase("alice"), "2026-02-10"),
        at(purchase("carol"), "2026-02-16"),  # after the window
        at(purchase("carol"), "2026-02-01"),  # before it
    )
    response = await client.get("/v1/reports/events-per-day", params=FEB, headers=admin_headers)
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["from"].startswith("2026-02-02T00:00:00")
    assert body["to"].startswith("2026-02-16T00:00:00")
    assert body["days"] == [
        {"day": "2026-02-02", "type": "purchase", "events": 2},
        {"day": "2026-02-02", "type": "review", "events": 1},
        {"day": "2026-02-10", "type": "purchase", "events": 1},
    ]


async def test_points_per_week_rules_and_tiers(
    client: httpx.AsyncClient, admin_headers: Headers
) -> None:
    await rules(client, admin_headers)
    await ingest(
        client,
        admin_headers,
        at(purchase("alice"), "2026-02-02"),  # week of Feb 2: 10
        at(purchase("alice"), "2026-02-08"),  # Sunday, same week: 10
        at(event("review", "alice", rating=4), "2026-02-09"),  # week of Feb 9: 3
        at(purchase("bob"), "2026-02-11"),  # week of Feb 9: 10
        at(purchase("bob"), "2026-02-20"),  # after the window
    )
    redeemed = await client.post(
        "/v1/customers/alice/redemptions",
        json={"points": 5, "reason": "mug"},
        headers=admin_headers,
    )
    assert redeemed.status_code == 201, redeemed.text

    weeks = await client.get("/v1/reports/points-per-week", params=FEB, headers=admin_headers)
    assert weeks.status_code == 200, weeks.text
    assert weeks.json()["weeks"] == [
        {"week": "2026-02-02", "issued": 20, "redeemed": 0, "expired": 0},
        {"week": "2026-02-09", "issued": 13, "redeemed": 0, "expired": 0},
    ]
    # alice 23 - 5, bob 20: every credit is still open.
    assert weeks.json()["liability"] == 23 - 5 + 20

    # The redemption happened now, in this week.
    today = datetime.now(UTC).date()
    monday = today - timedelta(days=today.weekday())
    now = await client.get(
        "/v1/reports/points-per-week",
        params={"from": monday.isoformat(), "to": today.isoformat()},
        headers=admin_headers,
    )
    assert now.json()["weeks"] == [
        {"week": monday.isoformat(), "issued": 0, "redeemed": 5, "expired": 0}
    ]

    credited = await client.get("/v1/reports/rules", params=FEB, headers=admin_headers)
    assert credited.json()["rules"] == [
        {"rule_id": "buy", "firings": 3, "points": 30, "customers": 2},
        {"rule_id": "review", "firings": 1, "points": 3, "customers": 1},
    ]

    # alice earned 23 (silver), bob 20 (silver); carol has no tier.
    await ingest(client, admin_headers, at(event("signup", "carol"), "2026-02-03"))
    tiers = await client.get("/v1/reports/tiers", headers=admin_headers)
    assert tiers.json() == {
        "tiers": [{"tier": "silver", "customers": 2}, {"tier": None, "customers": 1}],
        "customers": 3,
    }


async def test_reports_need_metrics_read_and_bounded_windows(
    client: httpx.AsyncClient, make_key: KeyFactory, admin_headers: Headers
) -> None:
    reader = bearer(await make_key(Scope.customers_read))
    for path in (
        "/v1/reports/events-per-day",
        "/v1/reports/points-per-week",
        "/v1/reports/tiers",
        "/v1/reports/rules",
        "/v1/reports/cltv-distribution",
        "/v1/reports/at-risk",
    ):
        refused = await client.get(path, headers=reader)
        assert refused.status_code == 403, path
        assert refused.headers["content-type"].startswith("application/problem+json")
        assert (await client.get(path)).status_code == 401, path
    too_long = await client.get(
        "/v1/reports/events-per-day",
        params={"from": "2020-01-01", "to": "2026-01-01"},
        headers=admin_headers,
    )
    assert too_long.status_code == 422
    assert too_long.json()["type"].endswith(":too-many-periods")
    inverted = await client.get(
        "/v1/reports/rules",
        params={"from": "2026-02-10", "to": "2026-02-01"},
        headers=admin_headers,
    )
    assert inverted.json()["type"].endswith(":invalid-window")
    for params in ({"bins": 0}, {"bins": 51}):
        bad = await client.get(
            "/v1/reports/cltv-distribution", params=params, headers=admin_headers
        )
        assert bad.status_code == 422, params
    for params in ({"limit": 0}, {"limit": 101}, {"max_p_alive": 0}, {"max_p_alive": 1.5}):
        bad = await client.get("/v1/reports/at-risk", params=params, headers=admin_headers)
        assert bad.status_code == 422, params


async def test_value_reports_read_the_latest_stored_fit(
    client: httpx.AsyncClient, admin_headers: Headers
) -> None:
    for path in ("/v1/reports/cltv-distribution", "/v1/reports/at-risk"):
        missing = await client.get(path, headers=admin_headers)
        assert missing.status_code == 404
        assert missing.json()["type"].endswith(":no-stored-fit")
    # A year of the demo's customers, drawn from BG/NBD: the model identifies.
    anchor = datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    events = synthetic_events(anchor, 1, 40)
    spent: dict[str, Decimal] = {}
    for body in events:
        sign = {"purchase": 1, "refund": -1}.get(body["type"])
        if sign:
            owner = body["customer_id"]
            spent[owner] = spent.get(owner, Decimal(0)) + sign * Decimal(body["data"]["amount"])
    for offset in range(0, len(events), 50):
        await ingest(client, admin_headers, *events[offset : offset + 50])
    fitted = await client.post("/v1/metrics/cltv/fits", json={"top": 100}, headers=admin_headers)
    assert fitted.status_code == 201, fitted.text
    customers = {c["customer_id"]: c for c in fitted.json()["top_customers"]}

    spread = await client.get(
        "/v1/reports/cltv-distribution", params={"bins": 5}, headers=admin_headers
    )
    assert spread.status_code == 200, spread.text
    body = spread.json()
    assert body["customers"] == len(customers)
    assert sum(b["customers"] for b in body["bins"]) == len(customers)
    assert len(body["bins"]) == 5
    values = [c["predicted_clv"] for c in customers.values()]
    assert body["bins"][0]["from"] <= min(values)
    assert body["bins"][-1]["to"] >= max(values) - 1e-6

    risk = await client.get("/v1/reports/at-risk", params={"limit": 100}, headers=admin_headers)
    assert risk.status_code == 200
    expected = sorted(
        (c for c in customers if customers[c]["p_alive"] < 0.5), key=lambda c: (-spent[c], c)
    )
    listed = risk.json()["customers"]
    assert [c["customer_id"] for c in listed] == expected
    assert expected
    assert [c["lifetime_spend"] for c in listed] == [float(spent[c]) for c in expected]


async def test_calibration_sets_the_holdout_beside_the_prediction(
    client: httpx.AsyncClient, admin_headers: Headers
) -> None:
    anchor = datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    events = synthetic_events(anchor, 1, 40)
    for offset in range(0, len(events), 50):
        await ingest(client, admin_headers, *events[offset : offset + 50])
    to = anchor + timedelta(days=1)
    cut = to - timedelta(weeks=8)
    # The reference, from the posted purchases: purchase days before and after the cut.
    before: dict[str, set[str]] = {}
    after: dict[str, set[str]] = {}
    for body in events:
        if body["type"] != "purchase":
            continue
        at_ = datetime.fromisoformat(body["occurred_at"])
        side = before if at_ < cut else after if at_ < to else None
        if side is not None:
            side.setdefault(body["customer_id"], set()).add(at_.astimezone(UTC).date().isoformat())
    groups: dict[str, list[int]] = {}
    for customer, days in before.items():
        x = len(days) - 1
        key = "7+" if x >= 7 else str(x)
        groups.setdefault(key, []).append(len(after.get(customer, set())))

    response = await client.get(
        "/v1/reports/cltv-calibration",
        params={"to": to.isoformat(), "holdout_weeks": 8},
        headers=admin_headers,
    )
    assert response.status_code == 200, response.text
    body = response.json()
    assert {g["frequency"]: g["customers"] for g in body["groups"]} == {
        k: len(v) for k, v in groups.items()
    }
    for group in body["groups"]:
        observed = groups[group["frequency"]]
        assert group["actual"] == pytest.approx(sum(observed) / len(observed), abs=1e-4)
        assert group["predicted"] >= 0
    for weeks in (0, 105):
        bad = await client.get(
            "/v1/reports/cltv-calibration", params={"holdout_weeks": weeks}, headers=admin_headers
        )
        assert bad.status_code == 422
    empty = await client.get(
        "/v1/reports/cltv-calibration", params={"to": "2000-01-01"}, headers=admin_headers
    )
    assert empty.status_code == 422
    assert empty.json()["type"].endswith(":insufficient-data")
