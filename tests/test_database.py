"""The SQLite writer runs its statements on the event loop; waiting for the lock must not."""

import asyncio
import sqlite3

import httpx
import pytest

from app.config import Settings
from tests.conftest import make_settings
from tests.factories import purchase


@pytest.fixture
def settings(database_url: str) -> Settings:
    # Long enough for the test to release the lock, short enough that a loop blocked in
    # SQLite's busy handler would give up (and fail the request) before the release.
    return make_settings(database_url, sqlite_busy_timeout_ms=2000)


async def test_a_writer_waiting_for_another_process_leaves_the_loop_free(
    client: httpx.AsyncClient, admin_headers: dict[str, str], sqlite_path: str
) -> None:
    # Another process (here: a plain connection) holds SQLite's write lock.
    other = sqlite3.connect(sqlite_path, isolation_level=None)
    other.execute("BEGIN IMMEDIATE")
    try:
        posting = asyncio.create_task(
            client.post("/v1/events", json=purchase(amount="20.00"), headers=admin_headers)
        )
        done, _ = await asyncio.wait({posting}, timeout=0.5)
        assert not done, "the write finished while another connection held the lock"
        # Served while the write waits: the loop is not stuck in SQLite's busy handler.
        health = await client.get("/healthz")
        assert health.status_code == 200
        assert not posting.done()
    finally:
        other.execute("COMMIT")
        other.close()
    response = await posting
    assert response.status_code == 201, response.text
    balance = response.json()["balance"]
    assert balance["pending"] + balance["available"] == 20
