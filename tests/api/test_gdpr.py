"""Export (everything held about a customer) and erasure (personal data gone, metrics kept)."""

import json
import random
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import select

from app.auth import service as auth_service
from app.auth.scopes import Scope
from app.main import create_app
from app.models import Base, Customer, LedgerEntry, WebhookMessage
from tests.conftest import bearer, make_settings
from tests.factories import event, purchase, refund
from tests.server import PROJECT_ROOT

Headers = dict[str, str]
# Strings that must not survive an erasure anywhere in the database.
SUBJECT = "zoe-erasable-17"
SECRETS = ("Zoe's private review text", "call me on 0170 5555", "Zoe Q. Public", "crm-zoe-991")
WINDOWS = [
    {"from": "1997-01-01", "to": "1997-01-31"},
    {"from": "1997-02-01", "to": "1997-03-31"},
    {"from": "1997-01-01", "to": "1997-03-31"},
]
CDNOW_PURCHASES = 400
METRICS = ("nps", "csat", "retention", "churn", "repeat-purchase-rate", "referral-rate", "cltv")


@pytest.fixture
async def gdpr_app(database_url: str) -> AsyncIterator[FastAPI]:
    # A subscription on this machine may be saved (nothing is delivered: no worker runs).
    # Points that never expire: the history is from 1997.
    settings = make_settings(
        database_url, webhook_allowed_networks=["127.0.0.0/8"], points_validity_days=0
    )
    app = create_app(settings)
    async with app.router.lifespan_context(app):
        yield app


@pytest.fixture
async def gdpr(gdpr_app: FastAPI) -> AsyncIterator[tuple[httpx.AsyncClient, Headers]]:
    async with gdpr_app.state.database.sessionmaker() as session, session.begin():
        _, secret = await auth_service.create_key(session, name="t", scopes=[Scope.admin])
    transport = httpx.ASGITransport(app=gdpr_app)
    async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
        yield client, bearer(secret)


def cdnow_purchases(count: int) -> list[dict[str, Any]]:
    """The first ``count`` purchases of the CDNOW sample (customer, day, dollars); the API
    refuses zero amounts, so free ones are posted at the smallest amount it takes."""
    events = []
    lines = (PROJECT_ROOT / "tests" / "data" / "cdnow_sample.txt").read_text().splitlines()
    for index, line in enumerate(lines[:count]):
        _, customer, day, _, dollars = line.split()
        amount = dollars if float(dollars) > 0 else "0.0001"
        body = purchase(f"cdnow-{customer}", amount, order_id=f"cdnow-{index}")
        events.append(on(body, f"{day[:4]}-{day[4:6]}-{day[6:]}"))
    return events


def on(body: dict[str, Any], day: str, channel: str | None = None) -> dict[str, Any]:
    body["occurred_at"] = f"{day}T12:00:00+00:00"
    if channel:
        body["channel"] = channel
    return body


async def ingest(client: httpx.AsyncClient, headers: Headers, *events: dict[str, Any]) -> None:
    response = await client.post("/v1/events/batch", json={"events": events}, headers=headers)
    assert response.status_code == 200, response.text
    refused = [i["problem"] for i in response.json()["items"] if i["problem"]]
    assert refused == []


async def history(client: httpx.AsyncClient, headers: Headers) -> dict[str, str]:
    """A programme and three months of behaviour for a dozen customers, the subject among
    them with every kind of record; answers some of the subject's event ids."""
    rules = [
        {
            "id": "per-unit",
            "name": "1 point per unit",
            "types": ["purchase"],
            "actions": [{"type": "award_points", "per_unit": 1}],
        },
        {
            "id": "reviewer",
            "name": "Reviewer",
            "types": ["review"],
            "actions": [
                {"type": "award_points", "points": 20},
                {"type": "award_badge", "badge": "reviewer"},
                {"type": "grant_perk", "perk": "early_access", "expires_in_days": 30},
            ],
            "limits": {"per_customer": {"count": 2, "period": "month"}},
        },
    ]
    for rule in rules:
        assert (await client.post("/v1/rules", json=rule, headers=headers)).status_code == 201
    tiers = {"tiers": [{"tier": "silver", "min_lifetime_points": 150}]}
    assert (await client.put("/v1/rules/tiers", json=tiers, headers=headers)).status_code == 200
    hook = {"url": "http://127.0.0.1:9/hooks", "event_types": []}
    assert (await client.post("/v1/webhooks", json=hook, headers=headers)).status_code == 201

    # The first 400 purchases of the CDNOW sample (147 customers, 1997-98), so that the
    # predictive model has a real history to fit, and an NPS answer from some of them.
    rng = random.Random(7)
    events = cdnow_purchases(CDNOW_PURCHASES)
    others = sorted({e["customer_id"] for e in events})
    for who in others[::3]:
        score = rng.randint(0, 10)
        events.append(on(event("feedback", who, survey="nps", score=score), "1997-02-10", "web"))
    subject_purchase = on(
        purchase(SUBJECT, "120", attributes={"phone": SECRETS[1]}, channel="app"), "1997-01-05"
    )
    subject_purchase["data"]["items"] = [{"sku": "mug", "quantity": 2, "engraving": SECRETS[1]}]
    review = on(event("review", SUBJECT, rating=4, text=SECRETS[0]), "1997-01-06", "web")
    answer = on(event("feedback", SUBJECT, survey="nps", score=3, comment=SECRETS[1]), "1997-02-11")
    csat = on(event("feedback", SUBJECT, survey="csat", score=5, comment=SECRETS[0]), "1997-02-12")
    events += [
        subject_purchase,
        review,
        answer,
        csat,
        on(purchase(SUBJECT, "80.50"), "1997-02-20"),
        on(purchase(SUBJECT, "44"), "1997-03-02"),
        on(event("referral", SUBJECT, referred_customer_id="cdnow-0003"), "1997-01-07"),
        on(event("referral", "cdnow-0002", referred_customer_id=SUBJECT), "1997-01-02"),
        on(event("signup", SUBJECT, note=SECRETS[2]), "1997-01-03"),
    ]
    await ingest(client, headers, *sorted(events, key=lambda e: e["occurred_at"]))
    order_id = subject_purchase["data"]["order_id"]
    await ingest(client, headers, on(refund(order_id, "20", SUBJECT), "1997-01-09"))
    profile = {"display_name": SECRETS[2], "reference": SECRETS[3], "marketing_opt_in": True}
    patched = await client.patch(f"/v1/customers/{SUBJECT}", json=profile, headers=headers)
    assert patched.status_code == 200, patched.text
    redeemed = await client.post(
        f"/v1/customers/{SUBJECT}/redemptions",
        json={"points": 30, "reason": "voucher"},
        headers={**headers, "Idempotency-Key": "voucher-1"},
    )
    assert redeemed.status_code == 201, redeemed.text
    awards = {
        "reason": "anniversary",
        "awards": [
            {"customer_id": SUBJECT, "points": 5},
            {"customer_id": "cdnow-0001", "points": 5},
        ],
    }
    bulk = await client.post(
        "/v1/adjustments/bulk", json=awards, headers={**headers, "Idempotency-Key": "gift-1"}
    )
    assert bulk.status_code == 201, bulk.text
    return {"purchase": subject_purchase["id"], "review": review["id"], "answer": answer["id"]}


def without_ids(document: Any) -> Any:
    """A metric's answer with what names customers or requests, or tells the time of
    reading (a fit's, the liability's ``at``), left out: the values."""
    if isinstance(document, dict):
        return {
            k: without_ids(v)
            for k, v in document.items()
            if k not in {"customer_id", "request_id", "fitted_at", "cached", "at"}
        }
    if isinstance(document, list):
        return [without_ids(item) for item in document]
    return document


async def every_metric(client: httpx.AsyncClient, headers: Headers) -> dict[str, Any]:
    answers: dict[str, Any] = {}

    async def read(key: str, path: str, **params: Any) -> None:
        response = await client.get(path, params=params, headers=headers)
        assert response.status_code in {200, 422}, response.text
        body = response.json()
        if path == "/v1/metrics" and response.status_code == 200:
            del body["metrics"]["liability"]["at"]  # the clock, not the data
        answers[key] = (response.status_code, without_ids(body))

    # First: refit and store, so that the summaries show the stored fit.
    fit = {"to": "1997-03-31", "time_unit": "day", "top": 100}
    response = await client.post("/v1/metrics/cltv/fits", json=fit, headers=headers)
    assert response.status_code in {201, 422}, response.text
    answers["predictive"] = (
        200 if response.status_code == 201 else 422,
        without_ids({k: v for k, v in response.json().items() if k != "stored"}),
    )
    for index, window in enumerate(WINDOWS):
        await read(f"summary {index}", "/v1/metrics", **window)
        for name in METRICS:
            await read(f"{name} {index}", f"/v1/metrics/{name}", **window)
            await read(f"{name} {index} tier", f"/v1/metrics/{name}", **window, by="tier")
            await read(f"{name} {index} month", f"/v1/metrics/{name}", **window, interval="month")
        for name in ("nps", "csat"):
            await read(f"{name} {index} channel", f"/v1/metrics/{name}", **window, by="channel")
        await read(f"cohorts {index}", "/v1/metrics/cohorts", **window)
        await read(f"cohorts {index} week", "/v1/metrics/cohorts", **window, period="week")
    return answers


async def database_text(app: FastAPI) -> dict[str, list[str]]:
    """Every row of every table, as text, by table."""
    rows: dict[str, list[str]] = {}
    async with app.state.database.read_sessionmaker() as session:
        for table in Base.metadata.sorted_tables:
            result = await session.execute(select(table))
            rows[table.name] = [json.dumps(list(r), default=str) for r in result.all()]
    return rows


async def test_export_holds_everything_about_the_customer(
    gdpr: tuple[httpx.AsyncClient, Headers],
) -> None:
    client, headers = gdpr
    ids = await history(client, headers)
    response = await client.get(f"/v1/customers/{SUBJECT}/export", headers=headers)
    assert response.status_code == 200, response.text
    export = response.json()
    assert export["format"] == "reinforce.customer-export.v1"
    customer = export["customer"]
    assert customer["id"] == SUBJECT
    assert customer["profile"]["display_name"] == SECRETS[2]
    assert customer["profile"]["reference"] == SECRETS[3]
    points = customer["points"]
    # 120 + 80 + 44 from purchases and 20 for the review; 20 reversed (20/120 of 120), 30
    # redeemed, 5 awarded.
    assert (points["earned"], points["reversed"], points["redeemed"], points["adjusted"]) == (
        264,
        20,
        30,
        5,
    )
    assert points["available"] == 264 - 20 - 30 + 5
    assert {e["id"] for e in export["events"]} >= set(ids.values())
    # Eight and the refund; the referral of the subject is cdnow-0002's event, not theirs.
    assert len(export["events"]) == 9
    review = next(e for e in export["events"] if e["id"] == ids["review"])
    assert review["data"]["text"] == SECRETS[0]
    assert review["answer"]["customer_id"] == SUBJECT
    assert sum(e["points"] for e in export["ledger"]) == points["available"] + points["pending"]
    assert {e["kind"] for e in export["ledger"]} == {"earn", "reverse", "redeem", "adjust"}
    assert [b["badge"] for b in export["badges"]] == ["reviewer"]
    assert [p["perk"] for p in export["perks"]] == ["early_access"]
    assert [(a["survey"], a["score"], a["comment"]) for a in export["survey_answers"]] == [
        ("nps", 3, SECRETS[1]),
        ("csat", 5, SECRETS[0]),
    ]
    assert [(o["amount"], o["refunded_amount"]) for o in export["orders"]] == [
        ("120.0000", "20.0000"),
        ("80.5000", "0.0000"),
        ("44.0000", "0.0000"),
    ]
    assert [r["referred_customer_id"] for r in export["referrals"]] == ["cdnow-0003"]
    assert (await client.get("/v1/customers/nobody/export", headers=headers)).status_code == 404


async def test_erasure_removes_personal_data_and_keeps_every_metric(
    gdpr_app: FastAPI, gdpr: tuple[httpx.AsyncClient, Headers]
) -> None:
    client, headers = gdpr
    ids = await history(client, headers)
    before = await every_metric(client, headers)
    everyone = (await client.get("/v1/customers", params={"limit": 200}, headers=headers)).json()
    assert everyone["next_cursor"] is None
    balance = (await client.get(f"/v1/customers/{SUBJECT}", headers=headers)).json()["points"]
    async with gdpr_app.state.database.read_sessionmaker() as session:
        entries_before = (
            await session.execute(
                select(LedgerEntry.id, LedgerEntry.kind, LedgerEntry.points)
                .where(LedgerEntry.customer_id == SUBJECT)
                .order_by(LedgerEntry.id)
            )
        ).all()
    assert any(SUBJECT in row for rows in (await database_text(gdpr_app)).values() for row in rows)

    response = await client.delete(f"/v1/customers/{SUBJECT}", headers=headers)
    assert response.status_code == 200, response.text
    erased = response.json()
    assert (erased["customer_id"], erased["erased"]) == (SUBJECT, True)
    assert erased["records"]["events"] == 9
    assert erased["records"]["ledger_entries"] == len(entries_before)

    # Every metric over the past windows, the predictive fit refitted, is unchanged.
    after = await every_metric(client, headers)
    assert after.keys() == before.keys()
    # The comparison means something: the subject counts in most of them.
    assert before["predictive"][0] == 200, before["predictive"]
    assert before["nps 1"][1]["responses"] > 10
    assert before["referral-rate 0"][1]["value"] is not None
    for key in before:
        assert after[key] == before[key], key

    # Neither the id nor any personal datum is left anywhere, but in the one webhook
    # message that tells the shop's other systems to erase the customer too.
    tables = await database_text(gdpr_app)
    for table, rows in tables.items():
        for row in rows:
            for secret in SECRETS:
                assert secret not in row, (table, row)
            if SUBJECT in row:
                assert table == "webhook_messages", row
                assert "customer.erased" in row, row
    async with gdpr_app.state.database.read_sessionmaker() as session:
        messages = (
            await session.scalars(
                select(WebhookMessage).where(WebhookMessage.event_type == "customer.erased")
            )
        ).all()
        assert [m.payload["data"]["customer_id"] for m in messages] == [SUBJECT]
        pseudonym = (
            await session.scalars(select(Customer.id).where(Customer.erased_at.is_not(None)))
        ).one()
        # The ledger keeps its meaning: the same entries, under the pseudonym.
        entries_after = (
            await session.execute(
                select(LedgerEntry.id, LedgerEntry.kind, LedgerEntry.points)
                .where(LedgerEntry.customer_id == pseudonym)
                .order_by(LedgerEntry.id)
            )
        ).all()
        assert entries_after == entries_before
        moved = await session.get(Customer, pseudonym)
        assert moved is not None
        assert (moved.display_name, moved.reference, moved.marketing_opt_in) == (None, None, False)
        assert moved.points_earned == balance["earned"]

    # Stored events keep what metrics read and lose the rest.
    stored = (await client.get(f"/v1/events/{ids['review']}", headers=headers)).json()
    assert stored["customer_id"] == pseudonym
    assert stored["answer"]["customer_id"] == pseudonym
    assert (stored["data"], stored["attributes"], stored["channel"]) == (
        {"rating": 4, "product_id": None},
        {},
        "web",
    )
    bought = (await client.get(f"/v1/events/{ids['purchase']}", headers=headers)).json()
    assert bought["data"]["items"] == [{"sku": "mug", "quantity": 2, "price": None}]
    assert bought["data"]["amount"] == "120"
    # The customer is gone from every read.
    assert (await client.get(f"/v1/customers/{SUBJECT}", headers=headers)).status_code == 404
    listed = (await client.get("/v1/customers", params={"limit": 200}, headers=headers)).json()
    assert SUBJECT not in {c["id"] for c in listed["items"]}
    assert pseudonym not in {c["id"] for c in listed["items"]}
    assert len(listed["items"]) == len(everyone["items"]) - 1
    empty = await client.get("/v1/events", params={"customer_id": SUBJECT}, headers=headers)
    assert empty.json()["items"] == []


async def test_erasure_is_idempotent_and_the_id_starts_afresh(
    gdpr_app: FastAPI, gdpr: tuple[httpx.AsyncClient, Headers]
) -> None:
    client, headers = gdpr
    hook = {"url": "http://127.0.0.1:9/hooks", "event_types": ["customer.erased"]}
    assert (await client.post("/v1/webhooks", json=hook, headers=headers)).status_code == 201
    await ingest(client, headers, purchase(SUBJECT, "10"))
    first = await client.delete(f"/v1/customers/{SUBJECT}", headers=headers)
    assert first.json()["erased"] is True
    again = await client.delete(f"/v1/customers/{SUBJECT}", headers=headers)
    assert again.status_code == 200
    assert again.json() == {
        "customer_id": SUBJECT,
        "erased": False,
        "erased_at": None,
        "records": {},
    }
    never = await client.delete("/v1/customers/never-seen", headers=headers)
    assert never.json()["erased"] is False
    async with gdpr_app.state.database.read_sessionmaker() as session:
        erased = await session.scalars(select(Customer).where(Customer.erased_at.is_not(None)))
        assert len(erased.all()) == 1
        sent = await session.scalars(select(WebhookMessage.event_type))
        assert sent.all() == ["customer.erased"]
    # A later event under the same id is a new customer with nothing of the old one.
    await ingest(client, headers, purchase(SUBJECT, "3"))
    fresh = (await client.get(f"/v1/customers/{SUBJECT}", headers=headers)).json()
    assert (fresh["points"]["earned"], fresh["aggregates"]["purchase_count"]) == (3, 1)
    for params in ({"customer_id": SUBJECT}, {}):
        listed = await client.get("/v1/events", params=params, headers=headers)
        assert len(listed.json()["items"]) == (1 if params else 2)
