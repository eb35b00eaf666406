"""``reinforce leaderboards close``: each ended period rewarded once, however often it runs."""

import asyncio
import os
import subprocess
import sys
from decimal import Decimal
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from app.config import Settings
from app.gamification.jobs import close_due
from tests.conftest import make_settings
from tests.gamification.helpers import Headers, at, expected_standings, post_all, review
from tests.server import PROJECT_ROOT

# October 2025: counts 3, 2, 2, 1, 1 (ranks 1, 2, 2, 4, 4).
OCTOBER = [
    ("ana", "2025-10-03T10:00:00"),
    ("ana", "2025-10-04T10:00:00"),
    ("ana", "2025-10-05T10:00:00"),
    ("ben", "2025-10-02T09:00:00"),
    ("ben", "2025-10-20T09:00:00"),
    ("cy", "2025-10-06T09:00:00"),
    ("cy", "2025-10-07T09:00:00"),
    ("dee", "2025-10-01T09:00:00"),
    ("eve", "2025-10-15T12:00:00"),
]
NOVEMBER = [("eve", "2025-11-02T10:00:00")]


@pytest.fixture
def settings(database_url: str) -> Settings:
    # The webhook receiver of these tests listens on the loopback interface.
    return make_settings(database_url, webhook_allowed_networks=["127.0.0.0/8"])


def close_command(database_url: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "REINFORCE_DATABASE_URL": database_url, "REINFORCE_LOG_LEVEL": "WARNING"}
    return subprocess.run(
        [sys.executable, "-c", "from app.cli import main; main()", "leaderboards", "close"],
        env=env,
        cwd=PROJECT_ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )


async def badges(client: httpx.AsyncClient, headers: Headers, customer: str) -> list[str]:
    response = await client.get(f"/v1/customers/{customer}", headers=headers)
    assert response.status_code == 200, response.text
    return sorted(b["badge"] for b in response.json()["badges"])


async def setup(client: httpx.AsyncClient, headers: Headers) -> str:
    board = {
        "id": "reviewers",
        "name": "Reviewers of the month",
        "score": "event_count",
        "event_types": ["review"],
        "period": "month",
        "rewards": [{"top": 1, "badge": "reviewer-of-the-month"}, {"top": 2, "badge": "podium"}],
    }
    response = await client.post("/v1/leaderboards", json=board, headers=headers)
    assert response.status_code == 201, response.text
    hook = await client.post(
        "/v1/webhooks",
        json={"url": "http://127.0.0.1:9/hook", "event_types": ["badge.awarded"]},
        headers=headers,
    )
    assert hook.status_code == 201, hook.text
    await post_all(client, headers, [review(c, at(t)) for c, t in OCTOBER + NOVEMBER])
    webhook_id: str = hook.json()["id"]
    return webhook_id


def expected_awards() -> dict[str, list[str]]:
    """From October's standings computed here: rank 1 gets both badges, rank 2 (a tie)
    the podium."""
    awards: dict[str, list[str]] = {}
    for entry in expected_standings((c, Decimal(1), at(t)) for c, t in OCTOBER):
        won = [b for b, top in (("reviewer-of-the-month", 1), ("podium", 2)) if entry.rank <= top]
        if won:
            awards[entry.customer_id] = sorted(won)
    return awards


async def awarded_messages(
    client: httpx.AsyncClient, headers: Headers, webhook_id: str
) -> list[dict[str, Any]]:
    response = await client.get(f"/v1/webhooks/{webhook_id}/messages", headers=headers)
    assert response.status_code == 200, response.text
    return [m for m in response.json()["items"] if m["event_type"] == "badge.awarded"]


async def test_closing_twice_rewards_once(
    client: httpx.AsyncClient, admin_headers: Headers, database_url: str
) -> None:
    webhook_id = await setup(client, admin_headers)
    awards = expected_awards()
    assert awards == {
        "ana": ["podium", "reviewer-of-the-month"],
        "ben": ["podium"],
        "cy": ["podium"],
    }
    first = close_command(database_url)
    assert first.returncode == 0, first.stderr
    # October has ended; November (and the current month) too, but nobody is rewarded
    # for November beyond eve, its only entry.
    assert "closed reviewers 2025-10" in first.stdout
    second = close_command(database_url)
    assert second.returncode == 0, second.stderr
    assert second.stdout.strip() == "closed 0 periods"

    november_winner = {"eve": ["podium", "reviewer-of-the-month"]}
    for customer in ("ana", "ben", "cy", "dee", "eve"):
        want = sorted({*awards.get(customer, []), *november_winner.get(customer, [])})
        assert await badges(client, admin_headers, customer) == want
    sent = await awarded_messages(client, admin_headers, webhook_id)
    october = sorted(
        (m["payload"]["data"]["customer_id"], m["payload"]["data"]["badge"])
        for m in sent
        if m["payload"]["data"]["period"] == "2025-10"
    )
    assert october == sorted((c, b) for c, won in awards.items() for b in won)
    assert len(sent) == len(october) + 2  # and eve's two for November


async def test_concurrent_closings_reward_once(
    client: httpx.AsyncClient, admin_headers: Headers, app: FastAPI
) -> None:
    webhook_id = await setup(client, admin_headers)
    runs = await asyncio.gather(*(close_due(app.state.database) for _ in range(4)))
    closed = sorted((c.leaderboard_id, c.period) for run in runs for c in run)
    assert closed == [("reviewers", "2025-10"), ("reviewers", "2025-11")]
    awarded = sorted(a for run in runs for c in run for a in c.awarded)
    expected = sorted(
        [(c, b) for c, won in expected_awards().items() for b in won]
        + [("eve", "podium"), ("eve", "reviewer-of-the-month")]
    )
    assert awarded == expected
    assert len(await awarded_messages(client, admin_headers, webhook_id)) == len(expected)
