"""What /metrics says ingestion and the ledger did: committed work only, counted once."""

import httpx
from fastapi import FastAPI
from prometheus_client.parser import text_string_to_metric_families

from app.ledger.jobs import expire_due
from tests.factories import purchase, refund, when


async def scrape(client: httpx.AsyncClient, headers: dict[str, str]) -> dict[tuple, float]:
    """Every sample of the reinforce_ counters, by (name, sorted labels)."""
    text = (await client.get("/metrics", headers=headers)).text
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(text)
        if family.name.startswith("reinforce_")
        for sample in family.samples
        if sample.name.endswith("_total")
    }


def moved(before: dict[tuple, float], after: dict[tuple, float]) -> dict[tuple, float]:
    changed = {key: after[key] - before.get(key, 0.0) for key in after}
    return {key: delta for key, delta in changed.items() if delta}


def events(type_: str, outcome: str) -> tuple:
    return ("reinforce_events_total", (("outcome", outcome), ("type", type_)))


def points(kind: str) -> tuple:
    return ("reinforce_points_total", (("kind", kind),))


async def test_ingestion_and_ledger_movements_are_counted_once_committed(
    app: FastAPI, client: httpx.AsyncClient, admin_headers: dict[str, str]
) -> None:
    before = await scrape(client, admin_headers)

    order = purchase(amount="30")
    assert (await client.post("/v1/events", json=order, headers=admin_headers)).status_code == 201
    assert (await client.post("/v1/events", json=order, headers=admin_headers)).status_code == 200
    back = refund(order["data"]["order_id"], "10")
    assert (await client.post("/v1/events", json=back, headers=admin_headers)).status_code == 201
    unknown = refund("no-such-order", "1")
    assert (await client.post("/v1/events", json=unknown, headers=admin_headers)).status_code == 422
    old = purchase(amount="7", occurred_at=when(days_ago=800))
    assert (await client.post("/v1/events", json=old, headers=admin_headers)).status_code == 201

    url = "/v1/customers/alice/redemptions"
    spend = {"points": 4, "reason": "voucher"}
    assert (await client.post(url, json=spend, headers=admin_headers)).status_code == 201
    # Refused: nothing moves, so nothing is counted.
    too_much = {"points": 10_000, "reason": "voucher"}
    assert (await client.post(url, json=too_much, headers=admin_headers)).status_code == 422
    adjustment = {"points": -3, "reason": "goodwill reversed"}
    response = await client.post(
        "/v1/customers/alice/adjustments", json=adjustment, headers=admin_headers
    )
    assert response.status_code == 201
    # The default programme keeps points 365 days: the old purchase's 7 are due.
    assert await expire_due(app.state.database) == 7

    assert moved(before, await scrape(client, admin_headers)) == {
        events("purchase", "processed"): 2,
        events("purchase", "replayed"): 1,
        events("refund", "processed"): 1,
        events("refund", "refused"): 1,
        points("earn"): 37,
        points("reverse"): 10,
        points("redeem"): 4,
        points("adjust"): 3,
        points("expire"): 7,
    }


def coupons(outcome: str) -> tuple:
    return ("reinforce_coupon_redemptions_total", (("outcome", outcome),))


async def test_coupon_uses_at_checkout_are_counted(
    client: httpx.AsyncClient, admin_headers: dict[str, str]
) -> None:
    order = purchase(amount="80")
    assert (await client.post("/v1/events", json=order, headers=admin_headers)).status_code == 201
    reward = await client.post(
        "/v1/rewards",
        json={"name": "Free shipping", "cost_points": 50, "kind": "free_shipping"},
        headers=admin_headers,
    )
    assert reward.status_code == 201, reward.text
    claim = await client.post(
        "/v1/customers/alice/claims",
        json={"reward_id": reward.json()["id"]},
        headers={**admin_headers, "Idempotency-Key": "claim-1"},
    )
    assert claim.status_code == 201, claim.text
    code = claim.json()["coupon"]["code"]
    before = await scrape(client, admin_headers)

    use = f"/v1/coupons/{code}/redemptions"
    assert (
        await client.post(use, json={"order_id": "o-1"}, headers=admin_headers)
    ).status_code == 201
    # Refused, so not counted: the coupon is already used.
    assert (
        await client.post(use, json={"order_id": "o-2"}, headers=admin_headers)
    ).status_code == 409
    assert (await client.delete(f"{use}/o-1", headers=admin_headers)).status_code == 200
    assert (await client.delete(f"{use}/o-1", headers=admin_headers)).status_code == 404
    assert (
        await client.post(use, json={"order_id": "o-3"}, headers=admin_headers)
    ).status_code == 201

    assert moved(before, await scrape(client, admin_headers)) == {
        coupons("used"): 2,
        coupons("released"): 1,
    }
