"""Backtest numbers on a small history, computed by hand."""

from typing import Any

import httpx

from tests.factories import event, purchase

Headers = dict[str, str]


def at(body: dict[str, Any], occurred_at: str) -> dict[str, Any]:
    body["occurred_at"] = occurred_at
    return body


async def test_backtest_replays_the_window_against_draft_rules(
    client: httpx.AsyncClient, admin_headers: Headers
) -> None:
    # Judged by the default ruleset: one point per whole currency unit of a purchase.
    history = [
        at(purchase("alice", amount="30"), "2026-01-05T10:00:00+00:00"),  # before: 30 points
        at(purchase("alice", amount="20"), "2026-02-10T10:00:00+00:00"),  # in window: 20
        at(purchase("bob", amount="50"), "2026-02-12T10:00:00+00:00"),  # in window: 50
        at(event("review", "bob", rating=4), "2026-02-13T10:00:00+00:00"),  # in window: 0
        at(purchase("carol", amount="70"), "2026-03-05T10:00:00+00:00"),  # after: ignored
    ]
    for body in history:
        response = await client.post("/v1/events", json=body, headers=admin_headers)
        assert response.status_code == 201, response.text

    draft = {
        "from": "2026-02-01T00:00:00Z",
        "to": "2026-03-01T00:00:00Z",
        "rules": [
            {
                "id": "double",
                "name": "2 points per unit",
                "types": ["purchase"],
                "actions": [{"type": "award_points", "per_unit": 2}],
            },
            {
                "id": "first",
                "name": "First purchase",
                "types": ["purchase"],
                "conditions": {"fact": "customer.purchase_count", "op": "eq", "value": 0},
                "actions": [{"type": "award_points", "points": 100}],
                "limits": {"per_customer": {"count": 1, "period": "lifetime"}},
            },
            {
                "name": "Reviews",
                "types": ["review"],
                "actions": [{"type": "award_points", "points": 5}],
            },
        ],
    }
    response = await client.post("/v1/rules/backtest", json=draft, headers=admin_headers)
    assert response.status_code == 200, response.text
    report = response.json()
    # alice's first purchase happened before the window: it builds her state (purchase_count
    # becomes 1, so "first" does not fire in February) but is not counted.
    assert [
        (r["rule_id"], r["events_fired"], r["customers_affected"], r["points"])
        for r in report["rules"]
    ] == [
        ("double", 2, 2, 40 + 100),
        ("first", 1, 1, 100),
        ("draft-3", 1, 1, 5),
    ]
    assert report["events_replayed"] == 4
    assert report["events_in_window"] == 3
    assert report["customers"] == 2
    assert report["points_would_issue"] == 245
    assert report["points_actually_issued"] == 70
    assert report["difference"] == 175
    assert report["from"] == "2026-02-01T00:00:00Z"

    # Nothing was written.
    rules = (await client.get("/v1/rules", headers=admin_headers)).json()
    assert rules == {"items": [], "ruleset_version": 0}
    bob = (await client.get("/v1/customers/bob", headers=admin_headers)).json()
    assert bob["points"]["lifetime_earned"] == 50


async def test_backtest_refuses_a_bad_draft_with_a_pointer(
    client: httpx.AsyncClient, admin_headers: Headers
) -> None:
    draft = {
        "from": "2026-02-01T00:00:00Z",
        "to": "2026-01-01T00:00:00Z",
        "rules": [
            {
                "name": "x",
                "types": ["purchase"],
                "actions": [{"type": "award_points", "points": 0}],
            }
        ],
    }
    response = await client.post("/v1/rules/backtest", json=draft, headers=admin_headers)
    assert response.status_code == 422
    pointers = [e["pointer"] for e in response.json()["errors"]]
    assert "/rules/0/actions/0/points" in pointers
