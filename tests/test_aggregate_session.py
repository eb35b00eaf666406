"""The metrics' session set-up: sent with the first query, and not at all without one."""

from collections.abc import AsyncIterator
from typing import Any

import pytest
from sqlalchemy import event, text
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, create_async_engine

from app.metrics.queries.common import AGGREGATE_WORK_MEM, for_aggregates


@pytest.fixture
async def engine(database_url: str) -> AsyncIterator[AsyncEngine]:
    engine = create_async_engine(database_url)
    yield engine
    await engine.dispose()


def record_statements(engine: AsyncEngine) -> list[str]:
    statements: list[str] = []

    def record(_connection: Any, _cursor: Any, statement: str, *_: Any) -> None:
        statements.append(statement)

    event.listen(engine.sync_engine, "before_cursor_execute", record)
    return statements


async def test_a_session_set_up_for_aggregates_and_never_used_sends_nothing(
    engine: AsyncEngine,
) -> None:
    statements = record_statements(engine)
    async with AsyncSession(engine) as session:
        for_aggregates(session)
    assert statements == []
    assert engine.pool.checkedout() == 0  # type: ignore[attr-defined]


async def test_every_transaction_of_the_session_gets_the_settings(
    engine: AsyncEngine, database_url: str
) -> None:
    if make_url(database_url).get_backend_name() != "postgresql":
        pytest.skip("the settings are PostgreSQL's; SQLite has none to set")
    async with AsyncSession(engine) as session:
        for_aggregates(session)
        for _ in range(2):  # a second transaction, after the first one ends
            assert await session.scalar(text("SHOW jit")) == "off"
            assert await session.scalar(text("SHOW work_mem")) == AGGREGATE_WORK_MEM
            await session.rollback()
    # SET LOCAL: the pooled connection is back to the server's defaults.
    async with AsyncSession(engine) as plain:
        assert await plain.scalar(text("SHOW work_mem")) != AGGREGATE_WORK_MEM
