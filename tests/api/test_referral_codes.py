"""Referral codes: shared by one customer, used in a new customer's signup or purchase, the
referral recorded once inside the pipeline with both sides rewarded, the guards answered."""

import re
from typing import Any

import httpx
import pytest

from tests.api.test_metrics import FEB, at, metric
from tests.conftest import make_settings
from tests.factories import event, purchase
from tests.security.helpers import give_points, serving, shopper_headers

REFERRER_RULE = {
    "id": "referrer-bonus",
    "name": "Referrer bonus",
    "types": ["referral"],
    "actions": [{"type": "award_points", "points": 500}],
}
WELCOME_RULE = {
    "id": "welcome",
    "name": "Welcome, referred friend",
    "types": ["signup", "purchase"],
    "conditions": {"fact": "event.referred", "op": "eq", "value": True},
    "actions": [{"type": "award_points", "points": 100}],
}


async def rules(client: httpx.AsyncClient, headers: dict[str, str]) -> None:
    for rule in (REFERRER_RULE, WELCOME_RULE):
        response = await client.post("/v1/rules", json=rule, headers=headers)
        assert response.status_code == 201, response.text


async def code_of(client: httpx.AsyncClient, headers: dict[str, str], customer: str) -> str:
    response = await client.get(f"/v1/customers/{customer}/referral-code", headers=headers)
    assert response.status_code == 200, response.text
    code: str = response.json()["code"]
    return code


async def post(client: httpx.AsyncClient, headers: dict[str, str], body: dict[str, Any]) -> Any:
    response = await client.post("/v1/events", json=body, headers=headers)
    assert response.status_code == 201, response.text
    return response.json()


def bought(customer: str, code: str) -> dict[str, Any]:
    body = purchase(customer)
    body["data"]["referral_code"] = code
    return body


def signup(customer: str, code: str | None) -> dict[str, Any]:
    return event("signup", customer, **({"referral_code": code} if code is not None else {}))


async def test_a_code_is_stable_short_and_unambiguous(
    client: httpx.AsyncClient, admin_headers: dict[str, str]
) -> None:
    await give_points(client, admin_headers, {"rita": 1})
    code = await code_of(client, admin_headers, "rita")
    assert re.fullmatch(r"[23456789ABCDEFGHJKMNPQRSTUVWXYZ]{8}", code)
    assert await code_of(client, admin_headers, "rita") == code
    mine = await client.get(
        "/v1/me/referral-code", headers=await shopper_headers(client, admin_headers, "rita")
    )
    assert mine.json() == {"code": code, "customer_id": "rita"}
    other = await code_of(client, admin_headers, await _another(client, admin_headers))
    assert other != code
    unknown = await client.get("/v1/customers/nobody/referral-code", headers=admin_headers)
    assert unknown.status_code == 404


async def _another(client: httpx.AsyncClient, headers: dict[str, str]) -> str:
    await give_points(client, headers, {"sam": 1})
    return "sam"


async def test_a_code_rewards_both_sides_once(
    client: httpx.AsyncClient, admin_headers: dict[str, str]
) -> None:
    await rules(client, admin_headers)
    await give_points(client, admin_headers, {"rita": 1})
    code = await code_of(client, admin_headers, "rita")
    body = signup("newbie", code.lower())
    answer = await post(client, admin_headers, body)
    derived = f"{body['id']}:referral"
    assert answer["referral"] == {
        "status": "recorded",
        "reason": None,
        "referrer_id": "rita",
        "event_id": derived,
    }
    assert [(e["rule_id"], e["points"]) for e in answer["effects"]] == [("welcome", 100)]
    # The referrer's rules ran on the derived event, in the same transaction.
    ledger = (await client.get("/v1/customers/rita/ledger", headers=admin_headers)).json()
    assert [(e["points"], e["event_id"], e["rule_id"]) for e in ledger["items"][:1]] == [
        (500, derived, "referrer-bonus")
    ]
    stored = await client.get(f"/v1/events/{derived}", headers=admin_headers)
    assert stored.status_code == 200, stored.text
    assert stored.json()["type"] == "referral"
    assert stored.json()["customer_id"] == "rita"
    rita = (await client.get("/v1/customers/rita", headers=admin_headers)).json()
    assert rita["points"]["available"] == 501
    # A replay is the stored answer; nothing is recorded twice.
    replay = await client.post("/v1/events", json=body, headers=admin_headers)
    assert replay.status_code == 200
    assert replay.json() == answer
    # A later purchase with the same code: already referred, no welcome, no bonus.
    again = await post(client, admin_headers, bought("newbie", code))
    assert again["referral"] == {
        "status": "ignored",
        "reason": "already-referred",
        "referrer_id": None,
        "event_id": None,
    }
    assert all(e["rule_id"] != "welcome" for e in again["effects"])
    rita = (await client.get("/v1/customers/rita", headers=admin_headers)).json()
    assert rita["points"]["available"] == 501
    assert rita["aggregates"]["referral_count"] == 1


async def test_codes_that_record_nothing_never_fail_the_event(
    client: httpx.AsyncClient, admin_headers: dict[str, str]
) -> None:
    await rules(client, admin_headers)
    await give_points(client, admin_headers, {"rita": 1})
    code = await code_of(client, admin_headers, "rita")
    unknown = await post(client, admin_headers, signup("u1", "NOPE2345"))
    assert (unknown["referral"]["status"], unknown["referral"]["reason"]) == (
        "ignored",
        "unknown-code",
    )
    own = await post(client, admin_headers, bought("rita", code))
    assert own["referral"]["reason"] == "own-code"
    assert all(e["rule_id"] != "welcome" for e in unknown["effects"] + own["effects"])
    plain = await post(client, admin_headers, signup("u2", None))
    assert "referral" not in plain
    rita = (await client.get("/v1/customers/rita", headers=admin_headers)).json()
    assert rita["aggregates"]["referral_count"] == 0


async def test_a_referrer_over_the_cap_earns_nothing_more(settings: Any) -> None:
    capped = make_settings(settings.database_url, referral_code_cap=2)
    async with serving(capped) as (client, admin):
        await rules(client, admin)
        await give_points(client, admin, {"rita": 1})
        code = await code_of(client, admin, "rita")
        # Three new customers in one batch: the unit sees the first two recorded.
        batch = await client.post(
            "/v1/events/batch",
            json={"events": [signup(f"friend-{i}", code) for i in range(3)]},
            headers=admin,
        )
        assert batch.status_code == 200, batch.text
        outcomes = [item["result"]["referral"] for item in batch.json()["items"]]
        assert [(o["status"], o["reason"]) for o in outcomes] == [
            ("recorded", None),
            ("recorded", None),
            ("ignored", "referrer-cap-reached"),
        ]
        fourth = await post(client, admin, signup("friend-3", code))
        assert fourth["referral"]["reason"] == "referrer-cap-reached"
        rita = (await client.get("/v1/customers/rita", headers=admin)).json()
        assert rita["points"]["available"] == 1 + 2 * 500


async def test_explicit_referral_events_keep_working_and_both_count(
    client: httpx.AsyncClient, admin_headers: dict[str, str]
) -> None:
    for customer, day in (("alice", "2026-02-02"), ("bob", "2026-02-02")):
        await post(client, admin_headers, at(purchase(customer), day))
    code = await code_of(client, admin_headers, "alice")
    await post(client, admin_headers, at(signup("newbie1", code), "2026-02-03"))
    await post(
        client,
        admin_headers,
        at(event("referral", "bob", referred_customer_id="newbie2"), "2026-02-04"),
    )
    await post(client, admin_headers, at(purchase("newbie1"), "2026-02-10"))
    await post(client, admin_headers, at(purchase("newbie2"), "2026-02-11"))
    body = await metric(client, admin_headers, "referral-rate", **FEB)
    # Active: alice, bob, newbie1, newbie2; alice (by code) and bob (by event) referred.
    assert body["referrers"] == 2
    assert body["active_customers"] == 4
    assert body["value"] == pytest.approx(0.5, abs=1e-6)
