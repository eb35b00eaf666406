"""reward.claimed, coupon.redeemed and coupon.expired, written with what they describe."""

from collections.abc import Iterator

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import update

from app.config import Settings
from app.models import Coupon
from app.models.base import utcnow
from app.rewards.jobs import notify_expired
from tests.api.test_rewards import make_reward
from tests.conftest import make_settings
from tests.factories import event
from tests.receiver import Receiver, receiver
from tests.security.helpers import give_points
from tests.webhooks.test_webhooks import LOOPBACK, messages, subscribe

TYPES = ["reward.claimed", "coupon.redeemed", "coupon.expired"]


@pytest.fixture
def settings(database_url: str) -> Settings:
    return make_settings(database_url, webhook_allowed_networks=LOOPBACK)


@pytest.fixture
def hook() -> Iterator[Receiver]:
    with receiver() as running:
        yield running


async def test_claims_uses_and_expiry_emit_their_messages(
    app: FastAPI, client: httpx.AsyncClient, admin_headers: dict[str, str], hook: Receiver
) -> None:
    created = await subscribe(client, admin_headers, hook.url, event_types=TYPES)
    await give_points(client, admin_headers, {"ann": 500})
    reward = await make_reward(client, admin_headers)
    first = (
        await client.post(
            "/v1/customers/ann/claims", json={"reward_id": reward["id"]}, headers=admin_headers
        )
    ).json()
    second = (
        await client.post(
            "/v1/customers/ann/claims", json={"reward_id": reward["id"]}, headers=admin_headers
        )
    ).json()
    used = first["coupon"]["code"]
    await client.post(
        f"/v1/coupons/{used}/redemptions", json={"order_id": "o-1"}, headers=admin_headers
    )
    lapsed = second["coupon"]["code"]
    async with app.state.database.sessionmaker() as session, session.begin():
        await session.execute(
            update(Coupon).where(Coupon.code == lapsed).values(expires_at=utcnow())
        )
    assert await notify_expired(app.state.database) == 1
    assert await notify_expired(app.state.database) == 0  # once per coupon
    found = sorted(
        (m["event_type"], m["payload"]["data"].get("code"))
        for m in await messages(client, admin_headers, created["id"])
    )
    assert found == sorted(
        [
            ("reward.claimed", used),
            ("reward.claimed", lapsed),
            ("coupon.redeemed", used),
            ("coupon.expired", lapsed),
        ]
    )
    claimed = next(
        m
        for m in await messages(client, admin_headers, created["id"])
        if m["event_type"] == "reward.claimed" and m["payload"]["data"]["code"] == used
    )
    data = claimed["payload"]["data"]
    assert (data["claim_id"], data["customer_id"], data["points"]) == (
        first["claim_id"],
        "ann",
        100,
    )


async def test_a_rule_issued_coupon_emits_reward_claimed(
    client: httpx.AsyncClient, admin_headers: dict[str, str], hook: Receiver
) -> None:
    created = await subscribe(client, admin_headers, hook.url, event_types=["reward.claimed"])
    reward = await make_reward(client, admin_headers)
    rule = {
        "id": "gift",
        "name": "Gift",
        "types": ["signup"],
        "actions": [{"type": "issue_coupon", "reward_id": reward["id"]}],
    }
    assert (await client.post("/v1/rules", json=rule, headers=admin_headers)).status_code == 201
    body = event("signup", "newbie")
    answer = (await client.post("/v1/events", json=body, headers=admin_headers)).json()
    [message] = await messages(client, admin_headers, created["id"])
    data = message["payload"]["data"]
    effect = next(e for e in answer["effects"] if e["action"] == "issue_coupon")
    assert (data["code"], data["event_id"], data["rule_id"], data["points"]) == (
        effect["coupon"]["code"],
        body["id"],
        "gift",
        0,
    )
