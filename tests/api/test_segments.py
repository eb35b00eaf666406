"""Customer facts, saved segments, their members, `?segment=` on the customer list and the
metrics, and rules reading `customer.segments` and the new facts.

References are computed here from the events the tests post, by the definitions in the
README, never through the service's code.
"""

import random
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

import httpx
import pytest

from tests.api.test_metrics import Headers, answer, at, ingest
from tests.api.test_metrics_registry import ASKED, WINDOW, history, over_http
from tests.factories import NOW, event, purchase, when

FREQUENCY_DAYS = 365


@dataclass
class Reference:
    purchases: list[tuple[datetime, Decimal]]
    nps: list[tuple[datetime, int]]
    csat: list[tuple[datetime, int]]


def generated(seed: int, customers: int) -> tuple[list[dict[str, Any]], dict[str, Reference]]:
    rng = random.Random(seed)
    events: list[dict[str, Any]] = []
    refs: dict[str, Reference] = {}
    for i in range(customers):
        who = f"cust-{i:02d}"
        ref = refs[who] = Reference([], [], [])
        # The last one never buys: it has no recency, monetary or RFM score.
        for _ in range(0 if i == customers - 1 else rng.randint(1, 5)):
            days = rng.choice([rng.randint(1, 360), rng.randint(370, 600)]) + 0.3
            amount = Decimal(rng.randint(500, 20_000)) / 100
            body = purchase(who, amount=str(amount))
            body["occurred_at"] = when(days)
            events.append(body)
            ref.purchases.append((NOW - timedelta(days=days), amount))
        for survey, scores, answers in (("nps", 10, ref.nps), ("csat", 5, ref.csat)):
            for _ in range(rng.randint(0, 3)):
                days = rng.randint(1, 400) + rng.random() / 2
                score = rng.randint(0 if survey == "nps" else 1, scores)
                body = answer(who, survey, score)
                body["occurred_at"] = when(days)
                events.append(body)
                answers.append((NOW - timedelta(days=days), score))
    return events, refs


def expected_facts(refs: dict[str, Reference]) -> dict[str, dict[str, Any]]:
    now = datetime.now(NOW.tzinfo)
    facts: dict[str, dict[str, Any]] = {}
    for who, ref in refs.items():
        last = max((at for at, _ in ref.purchases), default=None)
        count = len(ref.purchases)
        since = now - timedelta(days=FREQUENCY_DAYS)
        facts[who] = {
            "recency_days": None if last is None else (now - last).days,
            "last_purchase_at": last,
            "frequency": sum(1 for at, _ in ref.purchases if at >= since),
            "monetary": float(sum(a for _, a in ref.purchases)) / count if count else None,
            "last_nps": max(ref.nps)[1] if ref.nps else None,
            "last_csat": max(ref.csat)[1] if ref.csat else None,
            "rfm_score": None,
        }
    buyers = [who for who in facts if facts[who]["last_purchase_at"] is not None]

    def scores(key: str) -> dict[str, int]:
        values = {who: facts[who][key] for who in buyers}
        n = len(values)
        # RANK(): 1 + how many are strictly below; quintile 1 + floor(5 (rank - 1) / n).
        return {
            who: 1 + (5 * sum(1 for other in values.values() if other < value)) // n
            for who, value in values.items()
        }

    r, f, m = scores("last_purchase_at"), scores("frequency"), scores("monetary")
    for who in buyers:
        facts[who]["rfm_score"] = f"{r[who]}{f[who]}{m[who]}"
    return facts


async def create(client: httpx.AsyncClient, headers: Headers, **body: Any) -> dict[str, Any]:
    response = await client.post("/v1/segments", json=body, headers=headers)
    assert response.status_code == 201, response.text
    created: dict[str, Any] = response.json()
    return created


async def members(
    client: httpx.AsyncClient, headers: Headers, path: str, **query: str
) -> list[str]:
    found: list[str] = []
    cursor = None
    while True:
        params: dict[str, Any] = {"limit": 3, **query}
        if cursor:
            params["cursor"] = cursor
        response = await client.get(path, params=params, headers=headers)
        assert response.status_code == 200, response.text
        page = response.json()
        found += [item["id"] for item in page["items"]]
        cursor = page["next_cursor"]
        if cursor is None:
            return found


SEGMENTS: list[tuple[dict[str, Any], Any]] = [
    (
        {
            "all": [
                {"fact": "customer.recency_days", "op": "lte", "value": 90},
                {"fact": "customer.frequency", "op": "gte", "value": 2},
            ]
        },
        lambda f: f["recency_days"] is not None and f["recency_days"] <= 90 and f["frequency"] >= 2,
    ),
    (
        {"fact": "customer.rfm_score", "op": "in", "value": ["555", "554", "545", "455"]},
        lambda f: f["rfm_score"] in ("555", "554", "545", "455"),
    ),
    (
        {"fact": "customer.rfm_score", "op": "contains", "value": "5"},
        lambda f: f["rfm_score"] is not None and "5" in f["rfm_score"],
    ),
    (
        {"not": {"fact": "customer.last_nps", "op": "gte", "value": 7}},
        lambda f: not (f["last_nps"] is not None and f["last_nps"] >= 7),
    ),
    (
        {
            "any": [
                {"fact": "customer.last_csat", "op": "between", "value": [4, 5]},
                {"fact": "customer.monetary", "op": "gt", "value": 120},
            ]
        },
        lambda f: (f["last_csat"] is not None and 4 <= f["last_csat"] <= 5)
        or (f["monetary"] is not None and f["monetary"] > 120),
    ),
    (
        {"fact": "customer.recency_days", "op": "in", "value": [5, 17, 40, 41, 100]},
        lambda f: f["recency_days"] in (5, 17, 40, 41, 100),
    ),
    (
        {"fact": "customer.recency_days", "op": "exists", "value": False},
        lambda f: f["recency_days"] is None,
    ),
    (
        {"all": [{"fact": "customer.recency_days", "op": "gt", "value": 30},
                 {"fact": "customer.recency_days", "op": "lt", "value": 200}]},
        lambda f: f["recency_days"] is not None and 30 < f["recency_days"] < 200,
    ),
]  # fmt: skip


async def test_facts_segments_sizes_and_members_follow_the_definitions(
    client: httpx.AsyncClient, admin_headers: Headers
) -> None:
    events, refs = generated(17, 24)
    await ingest(client, admin_headers, *events)
    facts = expected_facts(refs)
    for who, want in facts.items():
        response = await client.get(f"/v1/customers/{who}", headers=admin_headers)
        assert response.status_code == 200, response.text
        got = response.json()["facts"]
        for name in ("recency_days", "frequency", "rfm_score", "last_nps", "last_csat"):
            assert got[name] == want[name], (who, name)
        if want["monetary"] is None:
            assert got["monetary"] is None
        else:
            assert got["monetary"] == pytest.approx(want["monetary"], rel=1e-12)
        assert got["probability_alive"] is None
        assert got["predicted_clv"] is None
    for i, (condition, matches) in enumerate(SEGMENTS):
        created = await create(
            client, admin_headers, id=f"seg-{i}", name=f"Segment {i}", condition=condition
        )
        expected = sorted(who for who, f in facts.items() if matches(f))
        assert created["size"] == len(expected), condition
        got = await client.get(f"/v1/segments/seg-{i}", headers=admin_headers)
        assert got.json()["size"] == len(expected)
        assert got.json()["condition"] == condition
        listed = await members(client, admin_headers, f"/v1/segments/seg-{i}/customers")
        assert sorted(listed) == expected, condition
        assert len(listed) == len(set(listed))
        via_list = await members(client, admin_headers, "/v1/customers", segment=f"seg-{i}")
        assert sorted(via_list) == expected
    # The profile names the segments the customer is in.
    for who, f in facts.items():
        body = (await client.get(f"/v1/customers/{who}", headers=admin_headers)).json()
        inside = sorted(f"seg-{i}" for i, (_, matches) in enumerate(SEGMENTS) if matches(f))
        assert body["facts"]["segments"] == inside


async def test_membership_follows_a_changed_definition_and_new_events(
    client: httpx.AsyncClient, admin_headers: Headers
) -> None:
    await ingest(client, admin_headers, purchase("ann", "10"), purchase("ben", "30"))
    await create(
        client,
        admin_headers,
        id="big",
        name="Big baskets",
        condition={"fact": "customer.monetary", "op": "gte", "value": 20},
    )
    assert await members(client, admin_headers, "/v1/segments/big/customers") == ["ben"]
    await ingest(client, admin_headers, purchase("ann", "50"))  # ann: 30 on average now
    assert sorted(await members(client, admin_headers, "/v1/segments/big/customers")) == [
        "ann",
        "ben",
    ]
    patched = await client.patch(
        "/v1/segments/big",
        json={"condition": {"fact": "customer.monetary", "op": "gt", "value": 30}},
        headers=admin_headers,
    )
    assert patched.status_code == 200
    assert patched.json()["size"] == 0
    patched = await client.patch(
        "/v1/segments/big", json={"condition": None}, headers=admin_headers
    )
    assert patched.json()["size"] == 2
    assert patched.json()["name"] == "Big baskets"
    listed = await client.get("/v1/segments", headers=admin_headers)
    assert [s["id"] for s in listed.json()["items"]] == ["big"]
    assert (await client.delete("/v1/segments/big", headers=admin_headers)).status_code == 204
    gone = await client.get("/v1/segments/big", headers=admin_headers)
    assert gone.status_code == 404
    assert gone.json()["type"].endswith("segment-not-found")
    missing = await client.get("/v1/customers?segment=big", headers=admin_headers)
    assert missing.status_code == 404


@pytest.mark.parametrize(
    ("condition", "pointer"),
    [
        ({"fact": "customer.segments", "op": "contains", "value": "x"}, "/condition/fact"),
        ({"fact": "customer.available_points", "op": "gt", "value": 1}, "/condition/fact"),
        ({"fact": "data.amount", "op": "gt", "value": 1}, "/condition/fact"),
        ({"fact": "customer.frequency", "op": "gt", "value": "many"}, "/condition/value"),
        ({"all": [{"fact": "customer.tier", "op": "gt", "value": 1}]}, "/condition/all/0/op"),
        ({"fact": "customer.rfm_score"}, "/condition/op"),
        ({"fact": "customer.frequency", "op": "gt", "value": 2**40}, "/condition/value"),
        ({"fact": "customer.monetary", "op": "in", "value": [1, 1e300]}, "/condition/value"),
        ({"fact": "customer.tier", "op": "eq", "value": "a\u0000b"}, "/condition/value"),
    ],
)
async def test_bad_definitions_are_refused(
    client: httpx.AsyncClient, admin_headers: Headers, condition: Any, pointer: str
) -> None:
    response = await client.post(
        "/v1/segments", json={"name": "x", "condition": condition}, headers=admin_headers
    )
    assert response.status_code == 422, response.text
    assert [e["pointer"] for e in response.json()["errors"]] == [pointer]
    assert (await client.get("/v1/segments", headers=admin_headers)).json()["items"] == []


async def test_extreme_but_valid_values_answer(
    client: httpx.AsyncClient, admin_headers: Headers
) -> None:
    await ingest(client, admin_headers, purchase("ann", "10"))
    for condition in (
        {"fact": "customer.recency_days", "op": "gt", "value": 2_000_000_000},
        {"fact": "customer.recency_days", "op": "lt", "value": -2_000_000_000},
        {"fact": "customer.signup_date", "op": "gt", "value": "9999-12-31"},
        {"fact": "customer.signup_date", "op": "lt", "value": "0001-01-01"},
        {"fact": "customer.signup_date", "op": "lte", "value": "9999-12-31"},
        {"fact": "customer.lifetime_spend", "op": "lt", "value": 1e13},
    ):
        response = await client.post(
            "/v1/segments", json={"name": "edge", "condition": condition}, headers=admin_headers
        )
        assert response.status_code == 201, (condition, response.text)
    bad_id = await client.get("/v1/segments/NOT%00ok", headers=admin_headers)
    assert bad_id.status_code == 422


async def test_ids_are_unique(client: httpx.AsyncClient, admin_headers: Headers) -> None:
    await create(client, admin_headers, id="vip", name="VIP")
    again = await client.post(
        "/v1/segments", json={"id": "vip", "name": "x"}, headers=admin_headers
    )
    assert again.status_code == 409
    assert again.json()["type"].endswith("segment-id-taken")


async def test_metrics_take_a_segment(client: httpx.AsyncClient, admin_headers: Headers) -> None:
    chosen = ["alice", "bob", "carol"]
    await ingest(client, admin_headers, *history(chosen))
    expected = {
        (name, str(params)): await over_http(client, admin_headers, name, params)
        for name, _, params in ASKED
    }
    summary = (await client.get("/v1/metrics", params=WINDOW, headers=admin_headers)).json()
    others = ["dave", "erin", "frank", "gus"]
    await ingest(client, admin_headers, *history(others, offset=7))
    # After the window, so that no metric of the window sees it: what tells them apart.
    await ingest(
        client, admin_headers, *(at(answer(who, "csat", 3), "2026-04-01") for who in others)
    )
    await create(
        client,
        admin_headers,
        id="chosen",
        name="Chosen",
        condition={"fact": "customer.last_csat", "op": "ne", "value": 3},
    )
    for name, _, params in ASKED:
        got = await over_http(client, admin_headers, name, {**params, "segment": "chosen"})
        assert got == expected[(name, str(params))], (name, params)
    segmented = await client.get(
        "/v1/metrics", params={**WINDOW, "segment": "chosen"}, headers=admin_headers
    )
    assert segmented.status_code == 200
    # The liability is the members' points as of each request, read at different times.
    members = segmented.json()["metrics"]
    for metrics in (members, summary["metrics"]):
        metrics["liability"].pop("at")
    assert members == {**summary["metrics"], "cltv_predictive": None}
    refused = await client.get(
        "/v1/metrics/cltv",
        params={**WINDOW, "method": "predictive", "segment": "chosen"},
        headers=admin_headers,
    )
    assert refused.status_code == 422
    unknown = await client.get(
        "/v1/metrics/nps", params={**WINDOW, "segment": "nope"}, headers=admin_headers
    )
    assert unknown.status_code == 404


async def test_rules_read_segments_and_the_new_facts(
    client: httpx.AsyncClient, admin_headers: Headers
) -> None:
    await ingest(client, admin_headers, purchase("ann", "100"), purchase("ben", "10"))
    await ingest(client, admin_headers, answer("ann", "nps", 10))
    await create(
        client,
        admin_headers,
        id="big",
        name="Big",
        condition={"fact": "customer.monetary", "op": "gte", "value": 50},
    )
    rules = [
        {
            "id": "big-bonus",
            "name": "Bonus for big baskets",
            "types": ["purchase"],
            "conditions": {"fact": "customer.segments", "op": "contains", "value": "big"},
            "actions": [{"type": "award_points", "points": 100}],
        },
        {
            "id": "promoter",
            "name": "Promoters' second purchase",
            "types": ["purchase"],
            "conditions": {
                "all": [
                    {"fact": "customer.last_nps", "op": "gte", "value": 9},
                    {"fact": "customer.frequency", "op": "eq", "value": 1},
                    {"fact": "customer.recency_days", "op": "lte", "value": 1},
                ]
            },
            "actions": [{"type": "award_points", "points": 7}],
        },
    ]
    for rule in rules:
        response = await client.post("/v1/rules", json=rule, headers=admin_headers)
        assert response.status_code == 201, response.text

    async def fired(customer: str) -> set[str]:
        response = await client.post(
            "/v1/events", json=purchase(customer, "1"), headers=admin_headers
        )
        assert response.status_code == 201, response.text
        return {e["rule_id"] for e in response.json()["effects"] if e["rule_id"]}

    assert {"big-bonus", "promoter"} <= await fired("ann")
    assert not {"big-bonus", "promoter"} & await fired("ben")
    # ann's second purchase moved frequency to 2: the promoter rule no longer holds.
    assert "promoter" not in await fired("ann")


async def test_new_facts_are_in_the_catalogue(
    client: httpx.AsyncClient, admin_headers: Headers
) -> None:
    response = await client.get("/v1/rules/facts", headers=admin_headers)
    paths = {f["path"] for f in response.json()}
    assert {
        "customer.recency_days",
        "customer.frequency",
        "customer.monetary",
        "customer.rfm_score",
        "customer.probability_alive",
        "customer.predicted_clv",
        "customer.last_nps",
        "customer.last_csat",
        "customer.segments",
    } <= paths
    assert event("signup", "x")["type"] == "signup"
