"""Every test gets its own database, built by the migrations and cloned from a template.

SQLite by default; set REINFORCE_TEST_DATABASE_URL to a PostgreSQL URL (a role that may
create databases) to run the same suite against PostgreSQL.
"""

import asyncio
import os
import shutil
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import text
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import create_async_engine

from app.auth import service as auth_service
from app.auth.scopes import Scope
from app.config import Settings
from app.main import create_app
from app.migrations import upgrade

POSTGRES_URL = os.environ.get("REINFORCE_TEST_DATABASE_URL", "")


@dataclass
class DatabaseFactory:
    """Creates empty or migrated databases for one test session."""

    workdir: Path
    template: str = ""

    @property
    def is_postgres(self) -> bool:
        return bool(POSTGRES_URL)

    async def _admin(self, statement: str) -> None:
        engine = create_async_engine(POSTGRES_URL, isolation_level="AUTOCOMMIT")
        try:
            async with engine.connect() as connection:
                await connection.execute(text(statement))
        finally:
            await engine.dispose()

    def _pg_url(self, name: str) -> str:
        return make_url(POSTGRES_URL).set(database=name).render_as_string(hide_password=False)

    async def create(self, *, migrated: bool) -> str:
        name = f"t_{uuid.uuid4().hex[:16]}"
        if self.is_postgres:
            template = f' TEMPLATE "{self.template}"' if migrated else ""
            await self._admin(f'CREATE DATABASE "{name}"{template}')
            return self._pg_url(name)
        path = self.workdir / f"{name}.db"
        if migrated:
            shutil.copyfile(self.workdir / "template.db", path)
        return f"sqlite+aiosqlite:///{path}"

    async def drop(self, url: str) -> None:
        if self.is_postgres:
            await self._admin(f'DROP DATABASE IF EXISTS "{make_url(url).database}" WITH (FORCE)')
        else:
            for suffix in ("", "-wal", "-shm"):
                Path(f"{make_url(url).database}{suffix}").unlink(missing_ok=True)

    def build_template(self) -> None:
        if self.is_postgres:
            self.template = f"tpl_{uuid.uuid4().hex[:12]}"
            asyncio.run(self._admin(f'CREATE DATABASE "{self.template}"'))
            upgrade(self._pg_url(self.template))
        else:
            upgrade(f"sqlite+aiosqlite:///{self.workdir / 'template.db'}")

    def drop_template(self) -> None:
        if self.is_postgres and self.template:
            asyncio.run(self._admin(f'DROP DATABASE IF EXISTS "{self.template}" WITH (FORCE)'))


@pytest.fixture(scope="session")
def databases(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DatabaseFactory]:
    factory = DatabaseFactory(workdir=tmp_path_factory.mktemp("databases"))
    factory.build_template()
    yield factory
    factory.drop_template()


@pytest.fixture
async def database_url(databases: DatabaseFactory) -> AsyncIterator[str]:
    url = await databases.create(migrated=True)
    yield url
    await databases.drop(url)


@pytest.fixture
def sqlite_path(database_url: str) -> str:
    """The test database's file, for tests of SQLite's own locking (skipped elsewhere)."""
    url = make_url(database_url)
    if url.get_backend_name() != "sqlite":
        pytest.skip("about SQLite's write lock and its file")
    assert url.database
    return url.database


@pytest.fixture
async def empty_database_url(databases: DatabaseFactory) -> AsyncIterator[str]:
    url = await databases.create(migrated=False)
    yield url
    await databases.drop(url)


@pytest.fixture
def sync_empty_database_url(databases: DatabaseFactory) -> Iterator[str]:
    """For synchronous tests: Alembic runs its own event loop."""
    url = asyncio.run(databases.create(migrated=False))
    yield url
    asyncio.run(databases.drop(url))


def make_settings(database_url: str, **overrides: object) -> Settings:
    values: dict[str, object] = {
        "database_url": database_url,
        "environment": "test",
        "bootstrap_api_key": None,
        "log_json": False,
        "cors_origins": [],
        # Tests post as fast as the machine goes, so the per-key limit would answer some of
        # them 429 on a fast one; tests/security/test_limits.py sets the limits it tests.
        "rate_limit": "",
    }
    values.update(overrides)
    return Settings(_env_file=None, **values)  # type: ignore[call-arg]


@pytest.fixture
def settings(database_url: str) -> Settings:
    return make_settings(database_url)


@pytest.fixture
async def app(settings: Settings) -> AsyncIterator[FastAPI]:
    application = create_app(settings)
    async with application.router.lifespan_context(application):
        yield application


@pytest.fixture
async def client(app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as http:
        yield http


KeyFactory = Callable[..., Awaitable[str]]


@pytest.fixture
def make_key(app: FastAPI) -> KeyFactory:
    async def _make(*scopes: Scope, name: str = "test") -> str:
        async with app.state.database.sessionmaker() as session, session.begin():
            _, secret = await auth_service.create_key(session, name=name, scopes=list(scopes))
        return secret

    return _make


def bearer(secret: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {secret}"}


@pytest.fixture
async def admin_headers(make_key: KeyFactory) -> dict[str, str]:
    return bearer(await make_key(Scope.admin, name="admin"))
