"""Webhooks end to end: the API, the outbox, and deliveries to a real HTTP receiver."""

import uuid
from collections.abc import AsyncIterator, Iterator
from datetime import datetime, timedelta
from ipaddress import ip_address
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import func, select
from standardwebhooks import Webhook, WebhookVerificationError

from app.config import Settings
from app.models import WebhookMessage
from app.models.base import utcnow
from app.webhooks import targets, worker
from tests.conftest import make_settings
from tests.factories import event, purchase
from tests.receiver import Receiver, receiver

LOOPBACK = ["127.0.0.0/8"]


@pytest.fixture
def settings(database_url: str) -> Settings:
    # Retries at once, so that a test walks the whole schedule without waiting.
    return make_settings(
        database_url, webhook_allowed_networks=LOOPBACK, webhook_retry_schedule_seconds=[0, 0]
    )


@pytest.fixture
def hook() -> Iterator[Receiver]:
    with receiver() as running:
        yield running


@pytest.fixture
async def http(settings: Settings) -> AsyncIterator[httpx.AsyncClient]:
    async with worker.make_client(settings) as client:
        yield client


class Deliverer:
    def __init__(self, app: FastAPI, settings: Settings, http: httpx.AsyncClient) -> None:
        self.app, self.settings, self.http = app, settings, http

    async def __call__(self, settings: Settings | None = None) -> int:
        """One worker round; answers how many messages it attempted."""
        return await worker.deliver_due(
            self.app.state.database, settings or self.settings, self.http
        )


@pytest.fixture
def deliver(app: FastAPI, settings: Settings, http: httpx.AsyncClient) -> Deliverer:
    return Deliverer(app, settings, http)


async def subscribe(
    client: httpx.AsyncClient, headers: dict[str, str], url: str, **fields: Any
) -> dict[str, Any]:
    response = await client.post("/v1/webhooks", json={"url": url, **fields}, headers=headers)
    assert response.status_code == 201, response.text
    body: dict[str, Any] = response.json()
    return body


async def post_event(
    client: httpx.AsyncClient, headers: dict[str, str], body: dict[str, Any]
) -> httpx.Response:
    return await client.post("/v1/events", json=body, headers=headers)


async def messages(
    client: httpx.AsyncClient, headers: dict[str, str], webhook_id: str, **params: str
) -> list[dict[str, Any]]:
    response = await client.get(
        f"/v1/webhooks/{webhook_id}/messages", params=params, headers=headers
    )
    assert response.status_code == 200, response.text
    items: list[dict[str, Any]] = response.json()["items"]
    return items


# --------------------------------------------------------------------------- subscriptions


async def test_secret_is_shown_once_in_standard_webhooks_form(
    client: httpx.AsyncClient, admin_headers: dict[str, str], hook: Receiver
) -> None:
    created = await subscribe(client, admin_headers, hook.url, event_types=["points.earned"])
    assert created["secret"].startswith("whsec_")
    Webhook(created["secret"])  # a valid key for receivers' libraries
    assert created["enabled"] is True
    assert created["event_types"] == ["points.earned"]

    fetched = await client.get(f"/v1/webhooks/{created['id']}", headers=admin_headers)
    assert fetched.status_code == 200
    assert "secret" not in fetched.json()
    listed = (await client.get("/v1/webhooks", headers=admin_headers)).json()["items"]
    assert [w["id"] for w in listed] == [created["id"]]
    assert "secret" not in listed[0]


async def test_update_and_delete(
    client: httpx.AsyncClient, admin_headers: dict[str, str], hook: Receiver
) -> None:
    created = await subscribe(client, admin_headers, hook.url)
    path = f"/v1/webhooks/{created['id']}"
    patched = await client.patch(
        path, json={"enabled": False, "event_types": ["tier.changed"]}, headers=admin_headers
    )
    assert patched.status_code == 200
    assert (patched.json()["enabled"], patched.json()["event_types"]) == (False, ["tier.changed"])
    assert (await client.delete(path, headers=admin_headers)).status_code == 204
    assert (await client.get(path, headers=admin_headers)).status_code == 404


async def test_webhooks_require_the_webhooks_scope(
    client: httpx.AsyncClient, make_key: Any, hook: Receiver
) -> None:
    from app.auth.scopes import Scope

    reader = {"Authorization": f"Bearer {await make_key(Scope.customers_read)}"}
    writer = {"Authorization": f"Bearer {await make_key(Scope.webhooks_write)}"}
    assert (await client.get("/v1/webhooks", headers=reader)).status_code == 403
    assert (await client.get("/v1/webhooks", headers=writer)).status_code == 200


async def test_unknown_event_types_are_refused(
    client: httpx.AsyncClient, admin_headers: dict[str, str], hook: Receiver
) -> None:
    response = await client.post(
        "/v1/webhooks",
        json={"url": hook.url, "event_types": ["points.stolen"]},
        headers=admin_headers,
    )
    assert response.status_code == 422


@pytest.mark.parametrize(
    "url",
    [
        "http://10.0.0.8/hook",
        "http://192.168.1.1/hook",
        "http://169.254.169.254/latest/meta-data",  # cloud metadata, link-local
        "http://100.64.0.1/hook",  # shared address space
        "http://[::1]/hook",  # loopback, but IPv6: not in the allowed 127.0.0.0/8
        "http://[::ffff:10.0.0.1]/hook",
        "http://0.0.0.0/hook",
        # IPv6 forms that carry a loopback IPv4 address, refused by the embedded address
        # even though the loopback network is allowed here.
        "http://[64:ff9b::7f00:1]/hook",  # NAT64
        "http://[2002:7f00:1::]/hook",  # 6to4
        "http://[::127.0.0.1]/hook",  # IPv4-compatible
        "http://[64:ff9b::a00:1]/hook",  # NAT64 of 10.0.0.1
        "http://[2002:a9fe:a9fe::]/hook",  # 6to4 of the metadata address
    ],
)
async def test_non_public_targets_are_refused(
    client: httpx.AsyncClient, admin_headers: dict[str, str], url: str
) -> None:
    response = await client.post("/v1/webhooks", json={"url": url}, headers=admin_headers)
    assert response.status_code == 422
    assert response.json()["type"] == "urn:reinforce:problem:webhook-url-refused"


async def test_loopback_is_refused_unless_allowed(
    database_url: str, admin_headers: dict[str, str], hook: Receiver
) -> None:
    from app.main import create_app

    strict = create_app(make_settings(database_url))
    async with strict.router.lifespan_context(strict):
        transport = httpx.ASGITransport(app=strict)
        async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
            response = await client.post(
                "/v1/webhooks", json={"url": hook.url}, headers=admin_headers
            )
    assert response.status_code == 422
    assert response.json()["type"] == "urn:reinforce:problem:webhook-url-refused"


async def test_targets_are_checked_again_at_send_time(
    client: httpx.AsyncClient,
    admin_headers: dict[str, str],
    hook: Receiver,
    deliver: Deliverer,
    settings: Settings,
) -> None:
    created = await subscribe(client, admin_headers, hook.url)
    await post_event(client, admin_headers, purchase(amount="5"))
    stricter = settings.model_copy(update={"webhook_allowed_networks": []})
    assert await deliver(stricter) == 1
    assert hook.received == []
    attempts = (
        await client.get(f"/v1/webhooks/{created['id']}/deliveries", headers=admin_headers)
    ).json()["items"]
    assert len(attempts) == 1
    assert attempts[0]["succeeded"] is False
    assert attempts[0]["response_status"] is None
    assert attempts[0]["error"].startswith("refused:")


# --------------------------------------------------------------------------- delivery


async def test_delivery_is_signed_per_standard_webhooks(
    client: httpx.AsyncClient, admin_headers: dict[str, str], hook: Receiver, deliver: Deliverer
) -> None:
    created = await subscribe(client, admin_headers, hook.url)
    body = purchase(customer="carol", amount="49.90")
    assert (await post_event(client, admin_headers, body)).status_code == 201
    assert await deliver() == 1

    [delivery] = hook.received
    payload = Webhook(created["secret"]).verify(delivery.body, delivery.headers)
    ledger = (await client.get("/v1/customers/carol/ledger", headers=admin_headers)).json()
    [entry] = ledger["items"]
    assert payload["type"] == "points.earned"
    assert payload["data"] == {
        "customer_id": "carol",
        "entry_id": entry["id"],
        "points": 49,
        "event_id": body["id"],
        "rule_id": "default-points-per-unit",
        "reference": None,
    }
    assert datetime.fromisoformat(payload["timestamp"]) <= utcnow()
    assert delivery.headers["webhook-id"].startswith("msg_")
    assert delivery.headers["content-type"] == "application/json"

    with pytest.raises(WebhookVerificationError):
        Webhook(created["secret"]).verify(delivery.body + b" ", delivery.headers)
    assert await deliver() == 0  # nothing left to send


async def test_a_500_then_a_200_delivers_exactly_once_after_a_retry(
    client: httpx.AsyncClient, admin_headers: dict[str, str], hook: Receiver, deliver: Deliverer
) -> None:
    created = await subscribe(client, admin_headers, hook.url)
    hook.answer(500)
    await post_event(client, admin_headers, purchase(amount="10"))

    assert await deliver() == 1
    [message] = await messages(client, admin_headers, created["id"])
    assert (message["status"], message["attempts"]) == ("pending", 1)
    assert await deliver() == 1
    assert await deliver() == 0

    assert [d.status for d in hook.received] == [500, 200]
    assert len({d.headers["webhook-id"] for d in hook.received}) == 1
    assert len(hook.delivered) == 1
    [message] = await messages(client, admin_headers, created["id"])
    assert (message["status"], message["attempts"]) == ("delivered", 2)

    attempts = (
        await client.get(f"/v1/webhooks/{created['id']}/deliveries", headers=admin_headers)
    ).json()["items"]
    assert [(a["attempt"], a["succeeded"], a["response_status"]) for a in attempts] == [
        (2, True, 200),
        (1, False, 500),
    ]
    assert all(a["latency_ms"] is not None and a["latency_ms"] >= 0 for a in attempts)
    assert attempts[1]["error"].startswith("HTTP 500")


async def test_a_410_disables_the_endpoint(
    client: httpx.AsyncClient, admin_headers: dict[str, str], hook: Receiver, deliver: Deliverer
) -> None:
    created = await subscribe(client, admin_headers, hook.url)
    hook.answer(410)
    await post_event(client, admin_headers, purchase(amount="10"))
    assert await deliver() == 1

    subscription = (await client.get(f"/v1/webhooks/{created['id']}", headers=admin_headers)).json()
    assert subscription["enabled"] is False
    assert "410" in subscription["disabled_reason"]
    [message] = await messages(client, admin_headers, created["id"])
    assert message["status"] == "failed"

    # A disabled endpoint is sent nothing more, and nothing is queued for it.
    await post_event(client, admin_headers, purchase(amount="20"))
    assert await deliver() == 0
    assert len(await messages(client, admin_headers, created["id"])) == 1
    assert len(hook.received) == 1


async def test_after_the_last_attempt_the_message_fails_and_can_be_replayed(
    client: httpx.AsyncClient, admin_headers: dict[str, str], hook: Receiver, deliver: Deliverer
) -> None:
    created = await subscribe(client, admin_headers, hook.url)
    hook.answer(500, 502, 503)  # the first attempt and both retries of the schedule
    await post_event(client, admin_headers, purchase(amount="10"))
    for _ in range(3):
        assert await deliver() == 1
    assert await deliver() == 0
    [message] = await messages(client, admin_headers, created["id"], status="failed")
    assert message["attempts"] == 3

    retry = await client.post(
        f"/v1/webhooks/{created['id']}/deliveries/{message['message_id']}/retry",
        headers=admin_headers,
    )
    assert retry.status_code == 202
    assert (retry.json()["status"], retry.json()["attempts"]) == ("pending", 0)
    assert await deliver() == 1
    assert [d.status for d in hook.received] == [500, 502, 503, 200]
    [message] = await messages(client, admin_headers, created["id"])
    assert message["status"] == "delivered"

    missing = await client.post(
        f"/v1/webhooks/{created['id']}/deliveries/msg_nope/retry", headers=admin_headers
    )
    assert missing.status_code == 404


async def test_retry_after_is_honoured_on_429(
    client: httpx.AsyncClient,
    admin_headers: dict[str, str],
    hook: Receiver,
    deliver: Deliverer,
    app: FastAPI,
) -> None:
    created = await subscribe(client, admin_headers, hook.url)
    hook.answer(429, headers={"Retry-After": "3600"})
    await post_event(client, admin_headers, purchase(amount="10"))
    before = utcnow()
    assert await deliver() == 1
    assert await deliver() == 0  # the schedule says now, the receiver said in an hour

    async with app.state.database.sessionmaker() as session:
        row = await session.scalar(
            select(WebhookMessage).where(WebhookMessage.subscription_id == uuid.UUID(created["id"]))
        )
    assert row is not None
    assert row.next_attempt_at >= before + timedelta(seconds=3600)


async def test_redirects_are_not_followed(
    client: httpx.AsyncClient, admin_headers: dict[str, str], hook: Receiver, deliver: Deliverer
) -> None:
    created = await subscribe(client, admin_headers, hook.url)
    hook.answer(302, headers={"Location": hook.url + "/elsewhere"})
    await post_event(client, admin_headers, purchase(amount="10"))
    assert await deliver() == 1
    assert [d.status for d in hook.received] == [302]
    [message] = await messages(client, admin_headers, created["id"])
    assert (message["status"], message["attempts"]) == ("pending", 1)


async def test_both_signatures_are_sent_during_a_rotation(
    client: httpx.AsyncClient, admin_headers: dict[str, str], hook: Receiver, deliver: Deliverer
) -> None:
    created = await subscribe(client, admin_headers, hook.url)
    rotated = await client.post(
        f"/v1/webhooks/{created['id']}/rotate-secret", headers=admin_headers
    )
    assert rotated.status_code == 200
    new_secret = rotated.json()["secret"]
    assert new_secret != created["secret"]
    assert rotated.json()["previous_secret_expires_at"] is not None

    await post_event(client, admin_headers, purchase(amount="10"))
    assert await deliver() == 1
    [delivery] = hook.received
    signatures = delivery.headers["webhook-signature"].split(" ")
    assert len(signatures) == 2
    assert all(s.startswith("v1,") for s in signatures)
    Webhook(created["secret"]).verify(delivery.body, delivery.headers)
    Webhook(new_secret).verify(delivery.body, delivery.headers)


# --------------------------------------------------------------------------- the outbox


async def test_a_rolled_back_transaction_emits_nothing(
    client: httpx.AsyncClient,
    admin_headers: dict[str, str],
    hook: Receiver,
    deliver: Deliverer,
    app: FastAPI,
) -> None:
    created = await subscribe(client, admin_headers, hook.url)
    first = purchase(amount="10", order_id="ord-1")
    assert (await post_event(client, admin_headers, first)).status_code == 201
    # Credits points (and so emits points.earned) before the order id turns out taken.
    again = purchase(amount="30", order_id="ord-1")
    assert (await post_event(client, admin_headers, again)).status_code == 409
    too_much = await client.post(
        "/v1/customers/alice/redemptions",
        json={"points": 1000, "reason": "too much"},
        headers=admin_headers,
    )
    assert too_much.status_code == 422
    unknown_refund = event("refund", order_id="ord-1", amount="99")
    assert (await post_event(client, admin_headers, unknown_refund)).status_code == 422

    [message] = await messages(client, admin_headers, created["id"])
    assert message["payload"]["data"]["event_id"] == first["id"]
    async with app.state.database.sessionmaker() as session:
        assert await session.scalar(select(func.count()).select_from(WebhookMessage)) == 1
    assert await deliver() == 1
    assert [d.payload["data"]["points"] for d in hook.received] == [10]


async def test_nothing_is_queued_for_types_nobody_wants(
    client: httpx.AsyncClient, admin_headers: dict[str, str], hook: Receiver, app: FastAPI
) -> None:
    await post_event(client, admin_headers, purchase(amount="10"))  # no subscription at all
    created = await subscribe(client, admin_headers, hook.url, event_types=["tier.changed"])
    await post_event(client, admin_headers, purchase(amount="10"))
    assert await messages(client, admin_headers, created["id"]) == []
    async with app.state.database.sessionmaker() as session:
        assert await session.scalar(select(func.count()).select_from(WebhookMessage)) == 0


async def test_redemptions_emit_points_redeemed(
    client: httpx.AsyncClient, admin_headers: dict[str, str], hook: Receiver
) -> None:
    created = await subscribe(client, admin_headers, hook.url, event_types=["points.redeemed"])
    await post_event(client, admin_headers, purchase(amount="50"))
    redeemed = await client.post(
        "/v1/customers/alice/redemptions",
        json={"points": 20, "reason": "coupon"},
        headers=admin_headers,
    )
    assert redeemed.status_code in (200, 201)
    [message] = await messages(client, admin_headers, created["id"])
    assert message["event_type"] == "points.redeemed"
    assert message["payload"]["data"]["customer_id"] == "alice"
    assert message["payload"]["data"]["points"] == -20
    assert message["payload"]["data"]["entry_id"] == redeemed.json()["entry_id"]


@pytest.mark.parametrize(
    ("survey", "score", "detractor"),
    [("nps", 0, True), ("nps", 6, True), ("nps", 7, False), ("nps", 10, False),
     ("csat", 1, True), ("csat", 2, True), ("csat", 3, False)],
)  # fmt: skip
async def test_a_detractor_answer_produces_feedback_detractor(
    client: httpx.AsyncClient,
    admin_headers: dict[str, str],
    hook: Receiver,
    deliver: Deliverer,
    survey: str,
    score: int,
    detractor: bool,
) -> None:
    created = await subscribe(client, admin_headers, hook.url)
    body = event("feedback", customer="dave", survey=survey, score=score, comment="meh")
    assert (await post_event(client, admin_headers, body)).status_code == 201
    queued = await messages(client, admin_headers, created["id"])
    if not detractor:
        assert queued == []
        return
    assert await deliver() == 1
    [delivery] = hook.received
    payload = Webhook(created["secret"]).verify(delivery.body, delivery.headers)
    assert payload["type"] == "feedback.detractor"
    assert payload["data"] == {
        "customer_id": "dave",
        "event_id": body["id"],
        "survey": survey,
        "score": score,
    }


async def test_rule_effects_emit_their_messages(
    client: httpx.AsyncClient,
    admin_headers: dict[str, str],
    hook: Receiver,
) -> None:
    rule = {
        "id": "reviewers-rule",
        "name": "reviewers",
        "types": ["review"],
        "actions": [
            {"type": "award_badge", "badge": "reviewer"},
            {"type": "set_tier", "tier": "silver"},
            {"type": "grant_perk", "perk": "early_access"},
            {"type": "notify", "notification": "thank_you", "template": "thanks-v2"},
        ],
    }
    stored = await client.post("/v1/rules", json=rule, headers=admin_headers)
    assert stored.status_code == 201, stored.text
    created = await subscribe(client, admin_headers, hook.url)
    first = event("review", customer="erin", rating=5)
    second = event("review", customer="erin", rating=4)
    for body in (first, second):
        assert (await post_event(client, admin_headers, body)).status_code == 201

    queued = list(reversed(await messages(client, admin_headers, created["id"])))
    seen = [(m["event_type"], m["payload"]["data"]["event_id"]) for m in queued]
    # The badge is new and the tier changes only the first time; perks and
    # notifications come every time.
    assert seen == [
        ("badge.awarded", first["id"]),
        ("tier.changed", first["id"]),
        ("perk.granted", first["id"]),
        ("notification.requested", first["id"]),
        ("perk.granted", second["id"]),
        ("notification.requested", second["id"]),
    ]
    data = {m["event_type"]: m["payload"]["data"] for m in queued[:4]}
    assert data["badge.awarded"]["badge"] == "reviewer"
    assert data["tier.changed"] == {
        "customer_id": "erin",
        "event_id": first["id"],
        "rule_id": "reviewers-rule",
        "tier": "silver",
        "previous": None,
    }
    assert data["perk.granted"]["perk"] == "early_access"
    assert data["notification.requested"]["notification"] == "thank_you"
    assert data["notification.requested"]["template"] == "thanks-v2"


async def test_counters_are_exported(
    client: httpx.AsyncClient, admin_headers: dict[str, str], hook: Receiver, deliver: Deliverer
) -> None:
    await subscribe(client, admin_headers, hook.url)
    hook.answer(500)
    await post_event(client, admin_headers, purchase(amount="10"))
    await deliver()
    await deliver()
    text = (await client.get("/metrics", headers=admin_headers)).text
    for name in ("sent", "failed", "retried"):
        assert f"# TYPE reinforce_webhook_messages_{name}_total counter" in text
    assert 'reinforce_webhook_messages_sent_total{event_type="points.earned"}' in text
    assert 'reinforce_webhook_messages_retried_total{event_type="points.earned"}' in text


async def test_the_queue_depth_is_exported(
    client: httpx.AsyncClient, admin_headers: dict[str, str], hook: Receiver, deliver: Deliverer
) -> None:
    async def depth() -> str:
        text = (await client.get("/metrics", headers=admin_headers)).text
        return next(line for line in text.splitlines() if line.startswith("reinforce_webhook_q"))

    await subscribe(client, admin_headers, hook.url)
    hook.answer(500)
    await post_event(client, admin_headers, purchase(amount="10"))
    await deliver()
    # Retried at once (schedule [0, 0]): the message is still waiting after the round.
    assert await depth() == "reinforce_webhook_queue_depth 1.0"
    hook.answer(200)
    await deliver()
    assert await depth() == "reinforce_webhook_queue_depth 0.0"


async def test_serve_can_deliver_in_process(
    database_url: str, admin_headers: dict[str, str], hook: Receiver
) -> None:
    import asyncio

    from app.main import create_app

    settings = make_settings(
        database_url,
        webhook_allowed_networks=LOOPBACK,
        webhook_worker_in_process=True,
        webhook_poll_interval_seconds=0.05,
    )
    served = create_app(settings)
    async with served.router.lifespan_context(served):
        transport = httpx.ASGITransport(app=served)
        async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
            await subscribe(client, admin_headers, hook.url)
            await post_event(client, admin_headers, purchase(amount="10"))
            for _ in range(400):  # the background task polls; wait for it, up to 20 s
                if hook.delivered:
                    break
                await asyncio.sleep(0.05)
    assert [d.payload["type"] for d in hook.delivered] == ["points.earned"]


def test_a_lease_shorter_than_an_attempt_is_refused(database_url: str) -> None:
    with pytest.raises(ValueError, match="LEASE"):
        make_settings(database_url, webhook_timeout_seconds=60, webhook_lease_seconds=100)


async def test_expiry_emits_points_expired(
    client: httpx.AsyncClient, admin_headers: dict[str, str], hook: Receiver, app: FastAPI
) -> None:
    from app.ledger.jobs import expire_due

    created = await subscribe(client, admin_headers, hook.url, event_types=["points.expired"])
    await post_event(client, admin_headers, purchase(customer="frank", amount="12"))
    assert await expire_due(app.state.database, utcnow() + timedelta(days=400)) == 12
    [message] = await messages(client, admin_headers, created["id"])
    assert message["event_type"] == "points.expired"
    assert message["payload"]["data"]["customer_id"] == "frank"
    assert message["payload"]["data"]["points"] == -12


async def test_sends_go_to_the_address_that_was_checked(
    client: httpx.AsyncClient,
    admin_headers: dict[str, str],
    hook: Receiver,
    deliver: Deliverer,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import ipaddress

    from app.webhooks import targets

    answers = {"hooks.example.test": "127.0.0.1", "rebound.example.test": "10.1.2.3"}

    async def resolve(host: str, port: int) -> list[targets.IPAddress]:
        return [ipaddress.ip_address(answers[host])]

    monkeypatch.setattr(targets, "_resolve", resolve)
    port = hook.url.split(":")[2].split("/")[0]
    await subscribe(client, admin_headers, f"http://hooks.example.test:{port}/hook")
    refused = await client.post(
        "/v1/webhooks",
        json={"url": "http://rebound.example.test/hook"},
        headers=admin_headers,
    )
    assert refused.status_code == 422
    assert "10.1.2.3" in refused.json()["detail"]

    await post_event(client, admin_headers, purchase(amount="10"))
    assert await deliver() == 1
    [delivery] = hook.received
    # Nothing could resolve the name but the check: the connection went to its answer.
    assert delivery.status == 200
    assert delivery.headers["host"] == f"hooks.example.test:{port}"


def test_pinning_keeps_the_host_name_for_http_and_tls() -> None:
    import ipaddress

    from app.webhooks import targets

    pinned = targets.pin(
        "https://hooks.example.com:8443/in?x=1", ipaddress.ip_address("2001:db8::1")
    )
    assert pinned.url == "https://[2001:db8::1]:8443/in?x=1"
    assert pinned.headers == {"host": "hooks.example.com:8443"}
    assert pinned.extensions == {"sni_hostname": "hooks.example.com"}
    literal = targets.pin("http://203.0.113.9/in", ipaddress.ip_address("203.0.113.9"))
    assert (literal.url, literal.headers, literal.extensions) == ("http://203.0.113.9/in", {}, {})


async def test_a_refused_event_in_a_batch_emits_nothing(
    client: httpx.AsyncClient, admin_headers: dict[str, str], hook: Receiver
) -> None:
    created = await subscribe(client, admin_headers, hook.url)
    kept = purchase(amount="10", order_id="ord-batch")
    refused = purchase(amount="30", order_id="ord-batch")  # earns points, then fails
    also_kept = purchase(amount="5")
    response = await client.post(
        "/v1/events/batch", json={"events": [kept, refused, also_kept]}, headers=admin_headers
    )
    assert response.status_code == 200, response.text
    queued = await messages(client, admin_headers, created["id"])
    assert sorted(m["payload"]["data"]["event_id"] for m in queued) == sorted(
        [kept["id"], also_kept["id"]]
    )


async def test_a_dry_run_emits_nothing(
    client: httpx.AsyncClient, admin_headers: dict[str, str], hook: Receiver
) -> None:
    created = await subscribe(client, admin_headers, hook.url)
    response = await client.post(
        "/v1/events",
        params={"dry_run": "true"},
        json=event("feedback", survey="nps", score=0),
        headers=admin_headers,
    )
    assert response.status_code == 200
    assert await messages(client, admin_headers, created["id"]) == []


def test_translated_forms_of_a_public_address_are_accepted() -> None:
    for form in ("64:ff9b::808:808", "2002:808:808::", "::ffff:8.8.8.8"):
        assert targets._permitted(ip_address(form), []), form
    assert not targets._permitted(ip_address("::"), [])
