"""Several delivery workers on one PostgreSQL database never send a message twice."""

import asyncio
import os
import signal
import subprocess
import sys
import time

import pytest
from sqlalchemy import ColumnElement, func, select

from app.config import Settings
from app.database import Database
from app.models import MessageStatus, WebhookAttempt, WebhookMessage, WebhookSubscription
from app.models.base import utcnow
from app.webhooks import outbox, signing
from tests.conftest import POSTGRES_URL, make_settings
from tests.receiver import receiver
from tests.server import PROJECT_ROOT

MESSAGES = 1000


def _start_worker(database_url: str) -> subprocess.Popen[bytes]:
    environment = {
        **os.environ,
        "REINFORCE_DATABASE_URL": database_url,
        "REINFORCE_ENVIRONMENT": "test",
        "REINFORCE_LOG_LEVEL": "WARNING",
        "REINFORCE_WEBHOOK_ALLOWED_NETWORKS": "127.0.0.0/8",
        "REINFORCE_WEBHOOK_POLL_INTERVAL_SECONDS": "0.1",
        "REINFORCE_WEBHOOK_BATCH_SIZE": "25",
    }
    return subprocess.Popen(
        [sys.executable, "-c", "from app.cli import main; main()", "worker"],
        cwd=PROJECT_ROOT,
        env=environment,
    )


async def _seed(settings: Settings, url: str) -> None:
    database = Database.from_settings(settings)
    try:
        async with database.sessionmaker() as session, session.begin():
            now = utcnow()
            session.add(
                WebhookSubscription(
                    url=url,
                    event_types=[],
                    enabled=True,
                    secret=signing.new_secret(),
                    created_at=now,
                    updated_at=now,
                )
            )
            await session.flush()
            for n in range(MESSAGES):
                await outbox.emit(
                    session, outbox.EventType.points_earned, {"customer_id": f"c{n}", "points": n}
                )
    finally:
        await database.dispose()


async def _count(settings: Settings, *conditions: ColumnElement[bool]) -> int:
    database = Database.from_settings(settings)
    try:
        async with database.sessionmaker() as session:
            statement = select(func.count()).select_from(WebhookMessage).where(*conditions)
            return int(await session.scalar(statement) or 0)
    finally:
        await database.dispose()


@pytest.mark.skipif(
    not POSTGRES_URL,
    reason="concurrent workers claim with FOR UPDATE SKIP LOCKED, which needs PostgreSQL; "
    "on SQLite one worker is the supported setup",
)
async def test_two_workers_deliver_every_message_exactly_once(database_url: str) -> None:
    settings = make_settings(database_url)
    with receiver() as hook:
        await _seed(settings, hook.url)
        workers = [_start_worker(database_url) for _ in range(2)]
        try:
            deadline = time.monotonic() + 240
            delivered = MessageStatus.delivered.value
            while await _count(settings, WebhookMessage.status == delivered) < MESSAGES:
                assert all(w.poll() is None for w in workers), "a worker exited"
                assert time.monotonic() < deadline, "messages not delivered in time"
                await asyncio.sleep(0.5)
        finally:
            for worker in workers:
                worker.send_signal(signal.SIGTERM)
            for worker in workers:
                try:
                    worker.wait(timeout=30)
                except subprocess.TimeoutExpired:
                    worker.kill()
                    worker.wait()

        ids = [d.headers["webhook-id"] for d in hook.received]
        assert len(ids) == MESSAGES
        assert len(set(ids)) == MESSAGES
        assert sorted(d.payload["data"]["points"] for d in hook.received) == list(range(MESSAGES))

    database = Database.from_settings(settings)
    try:
        async with database.sessionmaker() as session:
            attempts = await session.scalar(select(func.count()).select_from(WebhookAttempt))
    finally:
        await database.dispose()
    assert attempts == MESSAGES
