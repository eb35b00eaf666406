from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import func, select

from app.ledger.jobs import expire_due
from app.models import Customer, LedgerEntry, PointLot
from app.models.base import utcnow
from tests.conftest import make_settings
from tests.factories import event, purchase, refund, when


async def earn(
    client: httpx.AsyncClient, headers: dict[str, str], amount: str, **kw: Any
) -> dict[str, Any]:
    body = purchase(amount=amount, **kw)
    response = await client.post("/v1/events", json=body, headers=headers)
    assert response.status_code == 201, response.text
    return body


async def points(
    client: httpx.AsyncClient, headers: dict[str, str], customer: str = "alice"
) -> dict[str, int]:
    response = await client.get(f"/v1/customers/{customer}", headers=headers)
    assert response.status_code == 200, response.text
    result: dict[str, int] = response.json()["points"]
    return result


async def redeem(
    client: httpx.AsyncClient, headers: dict[str, str], n: int, key: str | None = None
) -> httpx.Response:
    extra = {"Idempotency-Key": key} if key else {}
    return await client.post(
        "/v1/customers/alice/redemptions",
        json={"points": n, "reason": "voucher", "reference": "ord-9"},
        headers={**headers, **extra},
    )


async def assert_ledger_invariant(app: FastAPI) -> None:
    """Every customer's lots sum to their entries, and the counters to the entry kinds."""
    async with app.state.database.read_sessionmaker() as session:
        for customer in (await session.scalars(select(Customer))).all():
            entries = await session.scalar(
                select(func.coalesce(func.sum(LedgerEntry.points), 0)).where(
                    LedgerEntry.customer_id == customer.id
                )
            )
            lots = await session.scalar(
                select(func.coalesce(func.sum(PointLot.remaining), 0)).where(
                    PointLot.customer_id == customer.id
                )
            )
            assert entries == lots, customer.id
            assert entries == (
                customer.points_earned
                - customer.points_redeemed
                - customer.points_expired
                - customer.points_reversed
                + customer.points_adjusted
            ), customer.id


async def test_redeem_spends_and_reports_balance(
    app: FastAPI, client: httpx.AsyncClient, admin_headers: dict[str, str]
) -> None:
    await earn(client, admin_headers, "100")
    response = await redeem(client, admin_headers, 30)
    assert response.status_code == 201
    body = response.json()
    assert (body["kind"], body["points"], body["reference"]) == ("redeem", -30, "ord-9")
    assert body["balance"]["available"] == 70
    assert body["balance"]["redeemed"] == 30
    await assert_ledger_invariant(app)


async def test_insufficient_points_is_422_and_writes_nothing(
    client: httpx.AsyncClient, admin_headers: dict[str, str]
) -> None:
    await earn(client, admin_headers, "20")
    response = await redeem(client, admin_headers, 25)
    assert response.status_code == 422
    assert response.headers["content-type"] == "application/problem+json"
    problem = response.json()
    assert problem["type"] == "urn:reinforce:problem:insufficient-points"
    assert (problem["requested"], problem["available"], problem["missing"]) == (25, 20, 5)
    ledger = (await client.get("/v1/customers/alice/ledger", headers=admin_headers)).json()
    assert [e["kind"] for e in ledger["items"]] == ["earn"]


async def test_redeeming_for_an_unknown_customer_is_404(
    client: httpx.AsyncClient, admin_headers: dict[str, str]
) -> None:
    response = await client.post(
        "/v1/customers/nobody/redemptions", json={"points": 1, "reason": "x"}, headers=admin_headers
    )
    assert response.status_code == 404


async def test_redemption_idempotency_key(
    client: httpx.AsyncClient, admin_headers: dict[str, str]
) -> None:
    await earn(client, admin_headers, "100")
    first = await redeem(client, admin_headers, 10, key="k1")
    again = await redeem(client, admin_headers, 10, key="k1")
    assert first.status_code == 201
    assert again.status_code == 200
    assert again.headers["idempotent-replayed"] == "true"
    assert again.json() == first.json()
    reused = await redeem(client, admin_headers, 11, key="k1")
    assert reused.status_code == 409
    assert reused.json()["type"] == "urn:reinforce:problem:idempotency-key-reused"
    assert (await points(client, admin_headers))["available"] == 90


async def test_failed_redemption_does_not_burn_its_key(
    client: httpx.AsyncClient, admin_headers: dict[str, str]
) -> None:
    assert (await redeem(client, admin_headers, 10, key="k2")).status_code == 404
    await earn(client, admin_headers, "15")
    assert (await redeem(client, admin_headers, 10, key="k2")).status_code == 201


async def test_redemption_spends_earliest_expiry_first(
    app: FastAPI, client: httpx.AsyncClient, admin_headers: dict[str, str]
) -> None:
    await earn(client, admin_headers, "10", occurred_at=when(days_ago=5))
    await earn(client, admin_headers, "10", occurred_at=when(days_ago=50))
    await redeem(client, admin_headers, 12)
    async with app.state.database.read_sessionmaker() as session:
        lots = (await session.scalars(select(PointLot).order_by(PointLot.expires_at))).all()
    assert [lot.remaining for lot in lots] == [0, 8]


async def test_ledger_pages_newest_first_with_reasons(
    client: httpx.AsyncClient, admin_headers: dict[str, str]
) -> None:
    for _ in range(5):
        await earn(client, admin_headers, "1")
    await redeem(client, admin_headers, 2)
    first = await client.get("/v1/customers/alice/ledger?limit=4", headers=admin_headers)
    page = first.json()
    assert [e["kind"] for e in page["items"]] == ["redeem", "earn", "earn", "earn"]
    assert all(e["reason"] for e in page["items"])
    assert page["items"][1]["event_id"]
    assert page["items"][1]["rule_id"] == "default-points-per-unit"
    second = await client.get(
        f"/v1/customers/alice/ledger?limit=4&cursor={page['next_cursor']}", headers=admin_headers
    )
    assert [e["kind"] for e in second.json()["items"]] == ["earn", "earn"]
    assert second.json()["next_cursor"] is None
    bad = await client.get("/v1/customers/alice/ledger?cursor=garbage", headers=admin_headers)
    assert bad.status_code == 422


async def test_full_refund_claws_back_everything(
    app: FastAPI, client: httpx.AsyncClient, admin_headers: dict[str, str]
) -> None:
    body = await earn(client, admin_headers, "50")
    response = await client.post(
        "/v1/events", json=refund(body["data"]["order_id"], "50"), headers=admin_headers
    )
    assert response.status_code == 201
    assert response.json()["effects"] == [
        {**response.json()["effects"][0], "action": "reverse_points", "points": -50}
    ]
    assert response.json()["balance"]["available"] == 0
    customer = (await client.get("/v1/customers/alice", headers=admin_headers)).json()
    assert customer["aggregates"]["lifetime_spend"] == "0.0000"
    await assert_ledger_invariant(app)


async def test_partial_refunds_are_proportional_and_never_exceed_the_earning(
    app: FastAPI, client: httpx.AsyncClient, admin_headers: dict[str, str]
) -> None:
    body = await earn(client, admin_headers, "99")  # 99 points
    order = body["data"]["order_id"]
    first = await client.post("/v1/events", json=refund(order, "33"), headers=admin_headers)
    assert first.json()["effects"][0]["points"] == -33  # floor(99 * 33 / 99)
    second = await client.post("/v1/events", json=refund(order, "50"), headers=admin_headers)
    assert second.json()["effects"][0]["points"] == -50  # floor(99 * 83 / 99) - 33
    too_much = await client.post("/v1/events", json=refund(order, "17"), headers=admin_headers)
    assert too_much.status_code == 422
    assert too_much.json()["type"] == "urn:reinforce:problem:refund-exceeds-purchase"
    last = await client.post("/v1/events", json=refund(order, "16"), headers=admin_headers)
    assert last.json()["effects"][0]["points"] == -16
    assert (await points(client, admin_headers))["available"] == 0
    await assert_ledger_invariant(app)


async def test_refund_of_an_unknown_order_is_422(
    client: httpx.AsyncClient, admin_headers: dict[str, str]
) -> None:
    response = await client.post("/v1/events", json=refund("ord-none", "5"), headers=admin_headers)
    assert response.status_code == 422
    assert response.json()["type"] == "urn:reinforce:problem:unknown-order"
    assert (await client.get("/v1/customers/alice", headers=admin_headers)).status_code == 404


async def test_refund_of_another_customers_order_is_422(
    client: httpx.AsyncClient, admin_headers: dict[str, str]
) -> None:
    body = await earn(client, admin_headers, "10")
    response = await client.post(
        "/v1/events",
        json=refund(body["data"]["order_id"], "5", customer="mallory"),
        headers=admin_headers,
    )
    assert response.status_code == 422


async def test_refund_after_spending_records_a_shortfall(
    app: FastAPI, client: httpx.AsyncClient, admin_headers: dict[str, str]
) -> None:
    body = await earn(client, admin_headers, "40")
    await redeem(client, admin_headers, 30)
    response = await client.post(
        "/v1/events", json=refund(body["data"]["order_id"], "40"), headers=admin_headers
    )
    effect = response.json()["effects"][0]
    assert (effect["points"], effect["shortfall"]) == (-10, 30)
    assert (await points(client, admin_headers))["available"] == 0
    await assert_ledger_invariant(app)


async def test_refund_after_spending_can_go_negative(
    database_url: str, admin_headers: dict[str, str]
) -> None:
    from app.main import create_app
    from tests.conftest import bearer

    del admin_headers  # this test runs its own app with another policy
    app = create_app(make_settings(database_url, refund_allow_negative_balance=True))
    async with app.router.lifespan_context(app):
        from app.auth import service as auth_service
        from app.auth.scopes import Scope

        async with app.state.database.sessionmaker() as session, session.begin():
            _, secret = await auth_service.create_key(session, name="a", scopes=[Scope.admin])
        headers = bearer(secret)
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
            body = await earn(client, headers, "40")
            await redeem(client, headers, 30)
            response = await client.post(
                "/v1/events", json=refund(body["data"]["order_id"], "40"), headers=headers
            )
            assert response.json()["effects"][0]["points"] == -40
            assert (await points(client, headers))["available"] == -30
            await earn(client, headers, "50")
            assert (await points(client, headers))["available"] == 20
            assert (await redeem(client, headers, 21)).status_code == 422
            assert (await redeem(client, headers, 20)).status_code == 201
        await assert_ledger_invariant(app)


@pytest.fixture
async def pending_app(database_url: str) -> Any:
    from app.main import create_app

    app = create_app(make_settings(database_url, points_pending_days=14, points_validity_days=30))
    async with app.router.lifespan_context(app):
        yield app


async def test_purchase_points_stay_pending_through_the_return_window(
    pending_app: FastAPI,
) -> None:
    from app.auth import service as auth_service
    from app.auth.scopes import Scope
    from tests.conftest import bearer

    async with pending_app.state.database.sessionmaker() as session, session.begin():
        _, secret = await auth_service.create_key(session, name="a", scopes=[Scope.admin])
    headers = bearer(secret)
    transport = httpx.ASGITransport(app=pending_app)
    async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
        recent = await earn(client, headers, "30")
        await earn(client, headers, "20", occurred_at=when(days_ago=20))  # window over
        assert await points(client, headers) == {
            "available": 20,
            "pending": 30,
            "lifetime_earned": 50,
            "redeemed": 0,
            "expired": 0,
            "earned": 50,
            "reversed": 0,
            "adjusted": 0,
        }
        assert (await redeem(client, headers, 21)).status_code == 422
        # A refund takes back the order's own pending points first.
        response = await client.post(
            "/v1/events", json=refund(recent["data"]["order_id"], "30"), headers=headers
        )
        assert response.json()["balance"]["pending"] == 0
        assert response.json()["balance"]["available"] == 20

        # Expiry: points earned 40 days ago with 30 days' validity.
        await earn(client, headers, "7", occurred_at=when(days_ago=40))
        assert (await points(client, headers))["available"] == 20
        assert await expire_due(pending_app.state.database) == 7
        assert await expire_due(pending_app.state.database) == 0  # twice changes nothing
        balance = await points(client, headers)
        assert (balance["available"], balance["expired"]) == (20, 7)
        ledger = (await client.get("/v1/customers/alice/ledger", headers=headers)).json()
        assert ledger["items"][0]["kind"] == "expire"
        assert ledger["items"][0]["points"] == -7
    await assert_ledger_invariant(pending_app)


async def test_expiry_spares_lots_not_yet_due(
    app: FastAPI, client: httpx.AsyncClient, admin_headers: dict[str, str]
) -> None:
    await earn(client, admin_headers, "5")
    assert await expire_due(app.state.database, utcnow()) == 0
    assert (await points(client, admin_headers))["available"] == 5


async def test_adjustments_need_a_reason_and_admin(
    app: FastAPI, client: httpx.AsyncClient, admin_headers: dict[str, str], make_key: Any
) -> None:
    from app.auth.scopes import Scope
    from tests.conftest import bearer

    await earn(client, admin_headers, "10")
    url = "/v1/customers/alice/adjustments"
    assert (await client.post(url, json={"points": 5}, headers=admin_headers)).status_code == 422
    assert (
        await client.post(url, json={"points": 0, "reason": "x"}, headers=admin_headers)
    ).status_code == 422
    writer = bearer(await make_key(Scope.customers_write))
    assert (
        await client.post(url, json={"points": 5, "reason": "x"}, headers=writer)
    ).status_code == 403
    credit = await client.post(url, json={"points": 5, "reason": "goodwill"}, headers=admin_headers)
    assert credit.status_code == 201
    assert credit.json()["balance"]["available"] == 15
    debit = await client.post(url, json={"points": -20, "reason": "fraud"}, headers=admin_headers)
    assert debit.status_code == 422
    debit = await client.post(url, json={"points": -15, "reason": "fraud"}, headers=admin_headers)
    assert debit.json()["balance"]["available"] == 0
    await assert_ledger_invariant(app)


async def test_bulk_award(
    app: FastAPI, client: httpx.AsyncClient, admin_headers: dict[str, str]
) -> None:
    body: dict[str, Any] = {
        "reason": "anniversary",
        "awards": [{"customer_id": "alice", "points": 10}, {"customer_id": "bob", "points": 20}],
    }
    # Unknown customers are refused one by one, as single adjustments are; the rest is made.
    await earn(client, admin_headers, "5")  # alice exists, bob does not
    response = await client.post("/v1/adjustments/bulk", json=body, headers=admin_headers)
    assert response.status_code == 201, response.text
    made = response.json()
    assert (made["count"], made["points"], list(made["entries"])) == (1, 10, ["alice"])
    assert [(r["customer_id"], r["status"]) for r in made["refused"]] == [("bob", 404)]
    assert made["refused"][0]["problem"]["type"] == "urn:reinforce:problem:not-found"
    assert (await client.get("/v1/customers/bob", headers=admin_headers)).status_code == 404
    assert (await points(client, admin_headers))["available"] == 15

    response = await client.post(
        "/v1/adjustments/bulk", json={**body, "create_customers": True}, headers=admin_headers
    )
    assert response.status_code == 201
    assert (response.json()["count"], response.json()["points"]) == (2, 30)
    assert response.json()["refused"] == []
    assert (await points(client, admin_headers, "bob"))["available"] == 20
    twice = {
        "reason": "x",
        "awards": [{"customer_id": "a", "points": 1}, {"customer_id": "a", "points": 1}],
    }
    assert (
        await client.post("/v1/adjustments/bulk", json=twice, headers=admin_headers)
    ).status_code == 422
    await assert_ledger_invariant(app)


async def test_batch_processes_each_event_on_its_own(
    app: FastAPI, client: httpx.AsyncClient, admin_headers: dict[str, str]
) -> None:
    good = purchase(amount="10")
    events = [
        good,
        {**purchase(), "occurred_at": "2026-01-01T00:00:00"},
        good,
        {**good, "data": {**good["data"], "amount": "11"}},
        refund("no-such-order", "1"),
        event("feedback", "bob", survey="nps", score=9),
        "not an object",
    ]
    response = await client.post("/v1/events/batch", json={"events": events}, headers=admin_headers)
    assert response.status_code == 200
    body = response.json()
    assert [i["status"] for i in body["items"]] == [201, 422, 200, 409, 422, 201, 422]
    assert (body["processed"], body["replayed"], body["failed"]) == (2, 1, 4)
    assert body["items"][1]["problem"]["errors"][0]["pointer"] == "/occurred_at"
    assert body["items"][4]["problem"]["type"] == "urn:reinforce:problem:unknown-order"
    assert body["items"][2]["result"] == body["items"][0]["result"]
    assert (await points(client, admin_headers))["available"] == 10
    await assert_ledger_invariant(app)


async def test_batch_size_is_capped(
    client: httpx.AsyncClient, admin_headers: dict[str, str]
) -> None:
    response = await client.post(
        "/v1/events/batch", json={"events": [purchase()] * 1001}, headers=admin_headers
    )
    assert response.status_code == 422
