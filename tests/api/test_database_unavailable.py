"""A database that is busy or unreachable is a 503 the client may retry, not a 500."""

import logging
import sqlite3
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Annotated

import httpx
import pytest
from fastapi import Depends, FastAPI
from sqlalchemy import exc as sa_exc
from sqlalchemy import text
from sqlalchemy.engine import make_url
from starlette import types as asgi

from app.auth import service as auth_service
from app.auth.scopes import Scope
from app.config import Settings
from app.main import create_app
from tests.conftest import bearer, make_settings
from tests.factories import purchase
from tests.reliability.database import connect, fingerprint
from tests.server import free_port

PROBLEM = "application/problem+json"
UNAVAILABLE = "urn:reinforce:problem:database-unavailable"


@pytest.fixture
def settings(database_url: str) -> Settings:
    # The writer gives up on SQLite's write lock after 100 ms instead of 30 s.
    return make_settings(database_url, sqlite_busy_timeout_ms=100)


@pytest.fixture
def postgres_url(database_url: str) -> str:
    if make_url(database_url).get_backend_name() != "postgresql":
        pytest.skip("PostgreSQL's lock_timeout")
    return database_url


@asynccontextmanager
async def serving(app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as http:
            yield http


def assert_unavailable(response: httpx.Response) -> None:
    assert response.status_code == 503, response.text
    assert response.headers["content-type"] == PROBLEM
    assert response.headers["retry-after"] == "1"
    body = response.json()
    assert body["type"] == UNAVAILABLE
    assert body["status"] == 503
    assert "retried" in body["detail"]


async def test_a_locked_sqlite_database_is_a_503_and_the_retry_applies_once(
    client: httpx.AsyncClient,
    admin_headers: dict[str, str],
    database_url: str,
    sqlite_path: str,
    caplog: pytest.LogCaptureFixture,
) -> None:
    body = purchase(amount="20.00")
    before = await fingerprint(database_url)
    # Another process (here: a plain connection) holds the write lock past the timeout.
    other = sqlite3.connect(sqlite_path, isolation_level=None)
    other.execute("BEGIN IMMEDIATE")
    try:
        with caplog.at_level(logging.WARNING, logger="app.errors"):
            refused = await client.post("/v1/events", json=body, headers=admin_headers)
    finally:
        other.execute("ROLLBACK")
        other.close()

    assert_unavailable(refused)
    assert refused.json()["request_id"] == refused.headers["x-request-id"]
    [record] = [r for r in caplog.records if r.name == "app.errors"]
    assert record.levelno == logging.WARNING
    assert record.exc_info is None
    assert "database is locked" in record.getMessage()
    # Nothing of the refused request was written.
    assert await fingerprint(database_url) == before

    retried = await client.post("/v1/events", json=body, headers=admin_headers)
    assert retried.status_code == 201, retried.text
    assert retried.json()["balance"]["lifetime_earned"] == 20
    ledger = await client.get("/v1/customers/alice/ledger", headers=admin_headers)
    assert [entry["points"] for entry in ledger.json()["items"]] == [20]


async def test_a_lock_timeout_on_postgresql_is_a_503_and_the_retry_applies_once(
    postgres_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    # Every connection opened from here on gives up waiting for a lock after 200 ms.
    name = make_url(postgres_url).database
    async with connect(postgres_url) as admin:
        await admin.execute(text(f'ALTER DATABASE "{name}" SET lock_timeout = 200'))
        await admin.commit()
    body = purchase(amount="20.00")
    app = create_app(make_settings(postgres_url))
    async with serving(app) as http:
        async with app.state.database.sessionmaker() as session, session.begin():
            _, secret = await auth_service.create_key(session, name="t", scopes=[Scope.admin])
        before = await fingerprint(postgres_url)
        async with connect(postgres_url) as other:
            await other.execute(text("LOCK TABLE customers IN ACCESS EXCLUSIVE MODE"))
            refused = await http.post("/v1/events", json=body, headers=bearer(secret))
            await other.rollback()
        assert_unavailable(refused)
        assert await fingerprint(postgres_url) == before
        assert "LockNotAvailableError" in caplog.text

        retried = await http.post("/v1/events", json=body, headers=bearer(secret))
        assert retried.status_code == 201, retried.text
        ledger = await http.get("/v1/customers/alice/ledger", headers=bearer(secret))
    assert [entry["points"] for entry in ledger.json()["items"]] == [20]


async def test_an_unreachable_database_server_is_a_503() -> None:
    # Nothing listens on the port: connecting fails as it does when PostgreSQL is down.
    down = f"postgresql+asyncpg://reinforce@127.0.0.1:{free_port()}/reinforce"
    async with serving(create_app(make_settings(down))) as http:
        response = await http.get("/v1/api-keys", headers=bearer("rk_" + "x" * 30))
        health = await http.get("/healthz")
    assert_unavailable(response)
    assert health.status_code == 200


async def test_a_database_error_that_is_not_transient_stays_a_500(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    async def broken() -> None:
        orig = sqlite3.OperationalError("no such table: customers")
        raise sa_exc.OperationalError("SELECT 1", None, orig)

    async def unrelated_socket_error() -> None:
        raise ConnectionRefusedError(111, "Connect call failed")

    app.add_api_route("/broken", broken)
    app.add_api_route("/socket", unrelated_socket_error)
    for path in ("/broken", "/socket"):
        response = await client.get(path)
        assert response.status_code == 500
        assert response.json()["type"] == "urn:reinforce:problem:internal-error"
        assert "retry-after" not in response.headers


async def test_a_transient_failure_at_commit_is_a_503_too(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    # Sessions commit as their dependency closes, after the endpoint returned.
    async def commit() -> AsyncIterator[None]:
        yield
        orig = sqlite3.OperationalError("database is locked")
        raise sa_exc.OperationalError("COMMIT", None, orig)

    async def endpoint(_: Annotated[None, Depends(commit, scope="function")]) -> None:
        return None

    app.add_api_route("/commit", endpoint)
    assert_unavailable(await client.get("/commit"))


class _LockedMiddleware:
    """Stands for a middleware that reads the database and finds it locked."""

    def __init__(self, app: asgi.ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: asgi.Scope, receive: asgi.Receive, send: asgi.Send) -> None:
        if scope["type"] == "http" and scope["path"] == "/locked":
            raise sqlite3.OperationalError("database is locked")
        await self.app(scope, receive, send)


async def test_a_lock_met_in_a_middleware_is_a_503_too(settings: Settings) -> None:
    app = create_app(settings)
    app.add_middleware(_LockedMiddleware)
    async with serving(app) as http:
        response = await http.get("/locked")
    assert_unavailable(response)
