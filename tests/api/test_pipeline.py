"""The ingest pipeline: concurrent posts share a transaction, and a unit behaves exactly as
its events posted one by one would."""

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import event as sa_event
from sqlalchemy import func, select

from app.auth import service as auth_service
from app.auth.scopes import Scope
from app.events import load
from app.main import create_app
from app.models import Customer, Event, LedgerEntry, WebhookMessage
from tests.conftest import bearer, make_settings
from tests.factories import event, purchase, refund

Headers = dict[str, str]


class Running:
    def __init__(self, app: FastAPI, client: httpx.AsyncClient, headers: Headers) -> None:
        self.app, self.client, self.headers = app, client, headers
        self.commits = 0
        sa_event.listen(app.state.database.engine.sync_engine, "commit", self._committed)

    def _committed(self, _connection: Any) -> None:
        self.commits += 1

    async def post(self, body: dict[str, Any]) -> httpx.Response:
        return await self.client.post("/v1/events", json=body, headers=self.headers)

    async def count(self, statement: Any) -> int:
        async with self.app.state.database.read_sessionmaker() as session:
            return int(await session.scalar(statement) or 0)


async def _running(database_url: str, **settings: Any) -> AsyncIterator[Running]:
    app = create_app(make_settings(database_url, **settings))
    async with app.router.lifespan_context(app):
        async with app.state.database.sessionmaker() as session, session.begin():
            _, secret = await auth_service.create_key(session, name="t", scopes=[Scope.admin])
        transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
            yield Running(app, client, bearer(secret))


@pytest.fixture
async def grouped(database_url: str) -> AsyncIterator[Running]:
    """Posts made together wait long enough to share one unit."""
    async for running in _running(database_url, ingest_group_wait_ms=50):
        yield running


@pytest.fixture
async def alone(database_url: str) -> AsyncIterator[Running]:
    """Every post is a unit of its own."""
    async for running in _running(database_url, ingest_group_max=1):
        yield running


async def test_a_refused_event_fails_alone_among_accepted_neighbours(grouped: Running) -> None:
    first = purchase("ann", amount="30", order_id="o-1")
    assert (await grouped.post(first)).status_code == 201
    before = grouped.commits
    bodies = [
        purchase("ann", amount="10", order_id="o-2"),
        purchase("bob", amount="20", order_id="o-1"),  # the order is ann's already
        refund("o-404", "5", customer="ann"),  # no such order
        refund("o-1", "31", customer="ann"),  # more than was bought
        purchase("cat", amount="40", order_id="o-3"),
        event("review", "dan", rating=5),
    ]
    responses = await asyncio.gather(*(grouped.post(b) for b in bodies))
    assert [r.status_code for r in responses] == [201, 409, 422, 422, 201, 201]
    assert [r.json().get("type", "").rsplit(":", 1)[-1] for r in responses[1:4]] == [
        "duplicate-order",
        "unknown-order",
        "refund-exceeds-purchase",
    ]
    # One transaction held all six.
    assert grouped.commits == before + 1
    # The refused events left no trace: no event row, no customer for bob, no entries.
    refused = [b["id"] for b in bodies[1:4]]
    assert await grouped.count(select(func.count()).where(Event.id.in_(refused))) == 0
    assert await grouped.count(select(func.count()).where(Customer.id == "bob")) == 0
    assert await grouped.count(select(func.count()).where(LedgerEntry.customer_id == "ann")) == 2
    assert responses[0].json()["balance"]["available"] == 40
    assert responses[4].json()["balance"]["available"] == 40


async def test_two_events_of_one_customer_in_one_unit_apply_in_order(grouped: Running) -> None:
    rule = {
        "name": "first purchase",
        "types": ["purchase"],
        "conditions": {"fact": "customer.purchase_count", "op": "eq", "value": 0},
        "actions": [{"type": "award_points", "points": 50}],
    }
    created = await grouped.client.post("/v1/rules", json=rule, headers=grouped.headers)
    assert created.status_code == 201, created.text
    order = "o-ann-1"
    bodies = [
        purchase("ann", amount="10", order_id=order),
        purchase("ann", amount="10", order_id="o-ann-2"),
        refund(order, "10", customer="ann"),
    ]
    batch = await grouped.client.post(
        "/v1/events/batch", json={"events": bodies}, headers=grouped.headers
    )
    assert batch.status_code == 200, batch.text
    results = [item["result"] for item in batch.json()["items"]]
    # The first purchase is the first: 50. The second sees purchase_count 1: nothing. The
    # refund, which refers to an order of the same unit, takes back what that order earned.
    assert [[e["points"] for e in r["effects"]] for r in results] == [[50], [], [-50]]
    assert [r["balance"]["available"] for r in results] == [50, 50, 0]


async def test_concurrent_posts_of_one_id_in_different_units(alone: Running) -> None:
    body = purchase("eve", amount="25")
    other = {**body, "data": {**body["data"], "amount": "26"}}
    responses = await asyncio.gather(*(alone.post(body) for _ in range(8)), alone.post(other))
    # Whichever body's unit ran first is processed; the same body again is replayed, the
    # other body is a conflict.
    won = next(r for r in responses if r.status_code == 201)
    statuses = sorted(r.status_code for r in responses)
    if won.json()["effects"][0]["points"] == 25:
        assert statuses == [200] * 7 + [201, 409]
    else:
        assert statuses == [201] + [409] * 8
    ok = [r for r in responses if r.status_code in (200, 201)]
    assert len({r.content for r in ok}) == 1
    assert await alone.count(select(func.count()).where(LedgerEntry.customer_id == "eve")) == 1
    # Each post was a unit of its own: nine transactions at most (replays commit nothing new).
    assert alone.commits <= 9


async def test_an_event_committed_elsewhere_after_the_id_read_is_replayed(
    alone: Running, monkeypatch: pytest.MonkeyPatch
) -> None:
    body = purchase("ivy", amount="30")
    first = await alone.post(body)
    assert first.status_code == 201
    # Another worker commits the event just after this unit read which ids are stored: the
    # unit's first read misses it, and its order then exists.
    real = load.stored_events
    reads: list[list[str]] = []

    async def missed_once(conn: Any, ids: Any) -> Any:
        reads.append(list(ids))
        return {} if len(reads) == 1 else await real(conn, ids)

    monkeypatch.setattr(load, "stored_events", missed_once)
    again = await alone.post(body)
    assert len(reads) == 2
    assert again.status_code == 200, again.text
    assert again.headers.get("Idempotent-Replayed") == "true"
    assert again.content == first.content
    # A different event with that order is still the conflict it is.
    other = {**purchase("ivy", amount="30"), "data": body["data"]}
    refused = await alone.post(other)
    assert refused.status_code == 409
    assert refused.json()["type"] == "urn:reinforce:problem:duplicate-order"


async def test_a_batch_repeats_an_id_once_and_answers_the_rest_alone(grouped: Running) -> None:
    body = purchase("fay", amount="12")
    late = {**purchase("fay", amount="5"), "occurred_at": "9999-12-31T23:59:59Z"}
    response = await grouped.client.post(
        "/v1/events/batch",
        json={"events": [body, body, {**body, "customer_id": "gus"}, late]},
        headers=grouped.headers,
    )
    assert response.status_code == 200, response.text
    items = response.json()["items"]
    assert [i["status"] for i in items[:3]] == [201, 200, 409]
    assert items[1]["result"] == items[0]["result"]
    # Its points would expire past the last representable date: it fails alone.
    assert items[3]["status"] >= 400
    assert items[3]["problem"]["status"] == items[3]["status"]
    assert response.json()["processed"] == 1


async def test_a_ladder_alone_keeps_the_default_rule_and_promotes_like_set_tier(
    database_url: str,
) -> None:
    async for running in _running(database_url, webhook_allowed_networks=["127.0.0.0/8"]):
        hook = {"url": "http://127.0.0.1:9/hook", "event_types": ["tier.changed"]}
        created = await running.client.post("/v1/webhooks", json=hook, headers=running.headers)
        assert created.status_code == 201, created.text
        ladder = {"tiers": [{"tier": "silver", "min_lifetime_points": 100}]}
        stored = await running.client.put("/v1/rules/tiers", json=ladder, headers=running.headers)
        assert stored.status_code == 200, stored.text
        answer = (await running.post(purchase("hal", amount="120.50"))).json()
        # The default earns one point per whole unit although a ladder is stored.
        assert answer["ruleset_version"] >= 1
        assert [(e["action"], e["points"], e["tier"]) for e in answer["effects"]] == [
            ("award_points", 120, None),
            ("set_tier", None, "silver"),
        ]
        rule = {
            "name": "vip",
            "types": ["review"],
            "actions": [{"type": "set_tier", "tier": "vip"}],
        }
        made = await running.client.post("/v1/rules", json=rule, headers=running.headers)
        assert made.status_code == 201
        await running.post(event("review", "hal", rating=5))
        async with running.app.state.database.read_sessionmaker() as session:
            rows = (await session.scalars(select(WebhookMessage).order_by(WebhookMessage.id))).all()
        payloads = [row.payload["data"] for row in rows]
        # The ladder's promotion and the rule's tier change emit the same message.
        assert [(p["tier"], p["previous"]) for p in payloads] == [
            ("silver", None),
            ("vip", "silver"),
        ]
        assert all(
            set(p) == {"customer_id", "event_id", "rule_id", "tier", "previous"} for p in payloads
        )
        # After a reward rule is stored, only stored rules apply: no default points.
        later = (await running.post(purchase("ivy", amount="50"))).json()
        assert [e["action"] for e in later["effects"]] == []
