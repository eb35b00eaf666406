"""Engine and session handling for SQLite (embedded) and PostgreSQL (production)."""

import asyncio
import sqlite3
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from traceback import walk_tb
from typing import Annotated, Any

import aiosqlite
from fastapi import Depends, Request
from sqlalchemy import Table, event
from sqlalchemy import exc as sa_exc
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import (
    AsyncConnection,
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)

from app.config import Settings

# Marks connections handed out for reading only; the SQLite begin hook uses it to skip
# taking the write lock.
_READ_ONLY = "reinforce_read_only"


def _configure_sqlite(engine: AsyncEngine, busy_timeout_ms: int, synchronous: str) -> None:
    @event.listens_for(engine.sync_engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        # pysqlite's own transaction handling issues a deferred BEGIN lazily; turning it
        # off lets the begin hook below choose the kind of BEGIN.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute(f"PRAGMA busy_timeout={int(busy_timeout_ms)}")
        cursor.execute(f"PRAGMA synchronous={synchronous}")
        cursor.close()

    @event.listens_for(engine.sync_engine, "begin")
    def _on_begin(connection: Any) -> None:
        # A deferred transaction that reads and then writes fails with "database is
        # locked" when another writer got there first; taking the write lock up front
        # makes concurrent writers queue on the busy timeout instead.
        if connection.get_execution_options().get(_READ_ONLY):
            connection.exec_driver_sql("BEGIN")
        else:
            connection.exec_driver_sql("BEGIN IMMEDIATE")


class _InlineSQLite(aiosqlite.Connection):
    """An aiosqlite connection whose calls run on the event loop's own thread.

    aiosqlite hands every driver call (execute, fetch, cursor close, commit, ...) to a worker
    thread and waits for the answer. Ingesting one event made about 80 such round trips, each
    an OS thread wake-up both ways, and on 2 cores they cost more than everything else in the
    request (bench/README.md, "Profile findings"). The writer's statements, and the API key
    lookup, are index lookups and small inserts that SQLite answers in microseconds, so
    running them in place is far cheaper than the hand-off. Reports and pages keep the
    threaded pool: they may scan. The one call that can wait is ``BEGIN IMMEDIATE`` while
    another process (a second worker, ``reinforce expire``) holds the write lock: the
    connection's busy timeout is 0 and that wait is an asyncio sleep here, so the event loop
    never blocks on it. ``COMMIT`` goes to aiosqlite's thread after all: with
    ``synchronous=FULL`` it waits for the disk (milliseconds), and the loop keeps reading the
    next group's requests meanwhile, one hand-off per transaction.
    """

    def __init__(self, connector: Callable[[], sqlite3.Connection], busy_timeout_s: float):
        super().__init__(connector, iter_chunk_size=64)
        self._busy_timeout_s = busy_timeout_s

    @property
    def inline(self) -> sqlite3.Connection:
        """The sqlite3 connection itself, for a caller already inside this connection's
        transaction on the loop (the ingest writer's bulk rows)."""
        connection: sqlite3.Connection = self._conn
        return connection

    async def _execute(self, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        if getattr(fn, "__name__", "") == "commit":
            return await super()._execute(fn, *args, **kwargs)  # type: ignore[no-untyped-call]
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self._busy_timeout_s
        delay = 0.001
        while True:
            try:
                return fn(*args, **kwargs)
            except sqlite3.OperationalError as error:
                begins = bool(args) and str(args[0]).lstrip().upper().startswith("BEGIN")
                if error.sqlite_errorname != "SQLITE_BUSY" or not begins:
                    raise
                if loop.time() + delay > deadline:
                    raise
                await asyncio.sleep(delay)
                delay = min(delay * 2, 0.05)


async def inline_sqlite(connection: AsyncConnection) -> sqlite3.Connection | None:
    """The sqlite3 connection under ``connection`` when its calls run on the loop."""
    raw = await connection.get_raw_connection()
    driver = raw.driver_connection
    return driver.inline if isinstance(driver, _InlineSQLite) else None


def _inline_connector(database: str, busy_timeout_s: float) -> Callable[[], Any]:
    async def connect() -> aiosqlite.Connection:
        # The connection is opened by aiosqlite's thread and then used from the loop's.
        return await _InlineSQLite(
            lambda: sqlite3.connect(database, timeout=0, check_same_thread=False),
            busy_timeout_s,
        )

    return connect


def _is_sqlite_file(settings: Settings) -> bool:
    url = make_url(settings.database_url)
    return url.get_backend_name() == "sqlite" and url.database not in (None, "", ":memory:")


def create_engine(settings: Settings, *, writer: bool = False, inline: bool = False) -> AsyncEngine:
    """``writer``: SQLite's one write connection per process; ``inline``: connections whose
    calls run on the event loop (the writer's always do)."""
    url = make_url(settings.database_url)
    if url.get_backend_name() == "sqlite":
        if url.database and url.database != ":memory:":
            Path(url.database).parent.mkdir(parents=True, exist_ok=True)
        busy_timeout_s = settings.sqlite_busy_timeout_ms / 1000
        # SQLite runs one write transaction at a time. Writers beyond the first would wait
        # in SQLite's busy handler, which sleeps and polls (up to 100 ms a time) and lets
        # requests queue behind sleepers: at 32 concurrent posts that was 22 events/s with
        # a p50 of 660 ms. One write connection per process makes them queue in the pool
        # instead, which hands the connection on the moment it is returned.
        # An inline connection is never idle inside a session (its calls do not yield), so
        # inline lookups need no pool to speak of: a second connection covers the moment
        # the first is being opened.
        pool_size, max_overflow = (
            (1, 0) if writer else (2, 0) if inline else (settings.database_pool_size, 10)
        )
        inline = inline or writer
        engine = create_async_engine(
            url,
            pool_size=pool_size,
            max_overflow=max_overflow,
            pool_timeout=busy_timeout_s,
            connect_args={"timeout": busy_timeout_s},
            async_creator=_inline_connector(url.database or "", busy_timeout_s) if inline else None,
        )
        _configure_sqlite(
            engine, 0 if inline else settings.sqlite_busy_timeout_ms, settings.sqlite_synchronous
        )
        return engine
    return create_async_engine(
        url,
        pool_size=settings.database_pool_size,
        max_overflow=settings.database_pool_size,
        pool_pre_ping=True,
    )


@dataclass
class Database:
    engine: AsyncEngine
    sessionmaker: async_sessionmaker[AsyncSession]
    read_sessionmaker: async_sessionmaker[AsyncSession]
    # Short indexed reads on every request (the API key lookup): on SQLite, inline.
    lookup_sessionmaker: async_sessionmaker[AsyncSession]
    extra_engines: tuple[AsyncEngine, ...] = ()

    @classmethod
    def from_settings(cls, settings: Settings) -> "Database":
        if _is_sqlite_file(settings):
            # Readers get a pool of their own: in WAL mode they never wait for the writer.
            engine = create_engine(settings, writer=True)
            readers = create_engine(settings)
            lookups = create_engine(settings, inline=True)
            read_engine = readers.execution_options(**{_READ_ONLY: True})
            lookup_engine = lookups.execution_options(**{_READ_ONLY: True})
            extra: tuple[AsyncEngine, ...] = (readers, lookups)
        else:
            engine = create_engine(settings)
            read_engine = lookup_engine = engine.execution_options(**{_READ_ONLY: True})
            extra = ()
        return cls(
            engine=engine,
            sessionmaker=async_sessionmaker(engine, expire_on_commit=False),
            read_sessionmaker=async_sessionmaker(read_engine, expire_on_commit=False),
            lookup_sessionmaker=async_sessionmaker(lookup_engine, expire_on_commit=False),
            extra_engines=extra,
        )

    @property
    def dialect(self) -> str:
        return self.engine.dialect.name

    async def dispose(self) -> None:
        for engine in (self.engine, *self.extra_engines):
            await engine.dispose()


def database_of(request: Request) -> Database:
    database: Database = request.app.state.database
    return database


# async, as every dependency here: FastAPI runs a plain ``def`` dependency in its thread
# pool, which costs a thread hand-off on every request.
async def get_database(request: Request) -> Database:
    return database_of(request)


async def get_session(request: Request) -> AsyncIterator[AsyncSession]:
    """The request's unit of work: committed when the endpoint returns, rolled back if it raises."""
    async with database_of(request).sessionmaker() as session:
        try:
            yield session
        except BaseException:
            await session.rollback()
            raise
        await session.commit()


async def get_read_session(request: Request) -> AsyncIterator[AsyncSession]:
    """A session for endpoints that only read; it never takes SQLite's write lock."""
    async with database_of(request).read_sessionmaker() as session:
        yield session


# scope="function" closes the session (and so commits) before the response is sent: a
# client never sees a success for a transaction that then fails to commit.
Session = Annotated[AsyncSession, Depends(get_session, scope="function")]
ReadSession = Annotated[AsyncSession, Depends(get_read_session, scope="function")]
DatabaseDep = Annotated[Database, Depends(get_database)]


# Failures that say nothing about the request: the server is unreachable, out of
# resources or shutting down (08, 53, 57P01-57P03), or the statement lost a race or ran
# out of time and may succeed when sent again (55P03, 57014, 40001, 40P01).
_TRANSIENT_SQLSTATE_CLASSES = ("08", "53")
_TRANSIENT_SQLSTATES = frozenset({"57P01", "57P02", "57P03", "55P03", "57014", "40001", "40P01"})
_SQLITE_BUSY, _SQLITE_LOCKED = 5, 6
_SQLITE_LOCKED_MESSAGES = ("database is locked", "database table is locked")
_DRIVER_MODULES = ("asyncpg.", "aiosqlite.", "sqlalchemy.")


def driver_errors(exc: BaseException) -> Iterator[BaseException]:
    """``exc`` and the driver's errors it wraps, outermost first: SQLAlchemy keeps the
    driver's error in ``orig``; the asyncpg adapter's error there is raised from asyncpg's
    own."""
    yield exc
    orig = exc.orig if isinstance(exc, sa_exc.DBAPIError) else None
    if orig is not None:
        yield orig
        if orig.__cause__ is not None:
            yield orig.__cause__


def _sqlite_locked(error: sqlite3.OperationalError) -> bool:
    code = getattr(error, "sqlite_errorcode", None)
    if isinstance(code, int):
        # Extended codes (SQLITE_BUSY_SNAPSHOT, ...) keep the primary code in the low byte.
        return code & 0xFF in (_SQLITE_BUSY, _SQLITE_LOCKED)
    return str(error).startswith(_SQLITE_LOCKED_MESSAGES)


def _raised_by_driver(error: BaseException) -> bool:
    return any(
        str(frame.f_globals.get("__name__", "")).startswith(_DRIVER_MODULES)
        for frame, _ in walk_tb(error.__traceback__)
    )


def is_transient_database_error(exc: BaseException) -> bool:
    """Whether ``exc`` says the database is busy or unreachable for now (the request may
    succeed when retried), rather than that the request or the code is wrong."""
    if isinstance(exc, sa_exc.TimeoutError):
        return True  # no pooled connection came free in time
    if isinstance(exc, sa_exc.DBAPIError) and exc.connection_invalidated:
        return True
    for error in driver_errors(exc):
        if isinstance(error, sqlite3.OperationalError) and _sqlite_locked(error):
            return True
        sqlstate = getattr(error, "sqlstate", None)
        if isinstance(sqlstate, str) and (
            sqlstate in _TRANSIENT_SQLSTATES or sqlstate.startswith(_TRANSIENT_SQLSTATE_CLASSES)
        ):
            return True
        # Connecting to PostgreSQL fails with the socket's own error (refused, no route,
        # name not resolved, timed out), which SQLAlchemy passes on unwrapped.
        if isinstance(error, OSError) and _raised_by_driver(error):
            return True
    return False


@cache
def claim_statement(dialect: str, table: Table, key: tuple[str, ...]) -> Any:
    """``INSERT ... ON CONFLICT (key) DO NOTHING RETURNING key``: a row that comes back is
    one this statement inserted, so the unique key has decided who claimed it. Built once
    per dialect and table; it takes one row of values or many."""
    insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    return (
        insert(table)
        .on_conflict_do_nothing(index_elements=list(key))
        .returning(*(table.c[name] for name in key))
    )


async def claim(
    executor: AsyncSession | AsyncConnection,
    table: Table,
    key: tuple[str, ...],
    values: dict[str, Any],
) -> bool:
    """Insert ``values`` unless its key is taken; answers whether this call inserted it."""
    bind = executor.get_bind() if isinstance(executor, AsyncSession) else executor
    statement = claim_statement(bind.dialect.name, table, key)
    return (await executor.execute(statement, values)).first() is not None


def dialect_of(executor: AsyncConnection | AsyncSession) -> str:
    """``sqlite`` or ``postgresql``: the database behind a session or a connection."""
    if isinstance(executor, AsyncSession):
        return executor.get_bind().dialect.name
    return executor.dialect.name


def insert_for(session: AsyncSession) -> Any:
    """The dialect's ``insert`` construct, which knows ``ON CONFLICT`` on both databases."""
    if dialect_of(session) == "postgresql":
        return postgresql.insert
    return sqlite.insert
