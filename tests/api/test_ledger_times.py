"""Ledger entries carry when their source event happened (occurred_at) beside when they
were written (created_at)."""

from datetime import datetime

import httpx

from tests.factories import purchase, refund


def instant(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


async def test_entries_carry_their_events_occurred_at(
    client: httpx.AsyncClient, admin_headers: dict[str, str]
) -> None:
    bought = purchase("alice", "50", occurred_at="2026-11-10T09:30:00+02:00")
    returned = refund(bought["data"]["order_id"], "10")
    returned["occurred_at"] = "2026-11-12T18:00:00-05:00"
    for body in (bought, returned):
        response = await client.post("/v1/events", json=body, headers=admin_headers)
        assert response.status_code == 201, response.text
    batch = [purchase("alice", "5", occurred_at="2026-11-01T00:00:00Z")]
    response = await client.post("/v1/events/batch", json={"events": batch}, headers=admin_headers)
    assert response.json()["processed"] == 1
    redeemed = await client.post(
        "/v1/customers/alice/redemptions",
        json={"points": 3, "reason": "voucher"},
        headers=admin_headers,
    )
    assert redeemed.status_code == 201

    page = await client.get("/v1/customers/alice/ledger", headers=admin_headers)
    entries = {(e["kind"], e["event_id"]): e for e in page.json()["items"]}
    assert len(entries) == 4
    expected = {
        ("earn", bought["id"]): bought["occurred_at"],
        ("reverse", returned["id"]): returned["occurred_at"],
        ("earn", batch[0]["id"]): batch[0]["occurred_at"],
    }
    for key, occurred_at in expected.items():
        entry = entries[key]
        assert instant(entry["occurred_at"]) == instant(occurred_at), key
        assert instant(entry["created_at"]) > instant(occurred_at), key
    # Without a source event, the entry happened when it was written.
    redemption = entries[("redeem", None)]
    assert redemption["occurred_at"] == redemption["created_at"]
