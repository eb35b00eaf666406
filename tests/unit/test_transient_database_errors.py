"""Which database errors mean "busy or unreachable, retry" (503) and which stay a 500."""

import socket
import sqlite3
from contextlib import closing
from pathlib import Path

import asyncpg
import pytest
from sqlalchemy import exc as sa_exc
from sqlalchemy.dialects.postgresql.asyncpg import AsyncAdapt_asyncpg_dbapi
from sqlalchemy.ext.asyncio import create_async_engine

from app.database import is_transient_database_error
from tests.server import free_port


def _raised(error: BaseException) -> BaseException:
    """``error`` with a traceback, as the app sees it."""
    try:
        raise error
    except BaseException as caught:
        return caught


def _wrapped(orig: BaseException) -> sa_exc.DBAPIError:
    wrapper = sa_exc.DBAPIError.instance("SELECT 1", None, orig, sqlite3.Error)
    assert isinstance(wrapper, sa_exc.DBAPIError)
    return wrapper


def _caused_by(error: BaseException, cause: BaseException) -> BaseException:
    error.__cause__ = cause
    return error


def _through_asyncpg_adapter(error: Exception, *, sqlstate: bool = True) -> sa_exc.DBAPIError:
    """What SQLAlchemy's asyncpg dialect raises for ``error``: its adapted DBAPI error
    (which copies the SQLSTATE), raised from asyncpg's, wrapped in a SQLAlchemy one."""
    adapted = _caused_by(AsyncAdapt_asyncpg_dbapi.Error(str(error), error), error)
    assert isinstance(adapted, AsyncAdapt_asyncpg_dbapi.Error)
    if not sqlstate:
        adapted.sqlstate = adapted.pgcode = None
    wrapper = sa_exc.DBAPIError.instance("SELECT 1", None, adapted, AsyncAdapt_asyncpg_dbapi.Error)
    assert isinstance(wrapper, sa_exc.DBAPIError)
    return wrapper


@pytest.mark.parametrize(
    "error",
    [
        sqlite3.OperationalError("database is locked"),
        sqlite3.OperationalError("database table is locked: customers"),
        _wrapped(sqlite3.OperationalError("database is locked")),
        sa_exc.OperationalError(
            "BEGIN IMMEDIATE", None, sqlite3.OperationalError("database is locked")
        ),
        sa_exc.TimeoutError("QueuePool limit of size 1 overflow 0 reached, connection timed out"),
        # asyncpg's "connection is closed", which SQLAlchemy recognises as a disconnect.
        sa_exc.InterfaceError(
            "SELECT 1",
            None,
            AsyncAdapt_asyncpg_dbapi.InterfaceError("connection is closed"),
            connection_invalidated=True,
        ),
        _through_asyncpg_adapter(asyncpg.exceptions.LockNotAvailableError("lock timeout")),
        _through_asyncpg_adapter(asyncpg.exceptions.QueryCanceledError("statement timeout")),
        _through_asyncpg_adapter(asyncpg.exceptions.SerializationError("could not serialize")),
        _through_asyncpg_adapter(asyncpg.exceptions.DeadlockDetectedError("deadlock detected")),
        _through_asyncpg_adapter(asyncpg.exceptions.CannotConnectNowError("starting up")),
        _through_asyncpg_adapter(asyncpg.exceptions.AdminShutdownError("terminating")),
        _through_asyncpg_adapter(asyncpg.exceptions.TooManyConnectionsError("too many")),
        _through_asyncpg_adapter(asyncpg.exceptions.ConnectionFailureError("lost")),
        # Found on asyncpg's error when the adapter does not copy the SQLSTATE.
        _through_asyncpg_adapter(asyncpg.exceptions.SerializationError("x"), sqlstate=False),
        asyncpg.exceptions.LockNotAvailableError("raised by asyncpg itself"),
    ],
    ids=repr,
)
def test_busy_or_unreachable_is_transient(error: BaseException) -> None:
    assert is_transient_database_error(error)


def test_a_real_sqlite_busy_is_transient(tmp_path: Path) -> None:
    path = tmp_path / "busy.db"
    with (
        closing(sqlite3.connect(path, isolation_level=None)) as holder,
        closing(sqlite3.connect(path, isolation_level=None, timeout=0)) as waiter,
    ):
        holder.execute("BEGIN IMMEDIATE")
        with pytest.raises(sqlite3.OperationalError, match="database is locked") as caught:
            waiter.execute("BEGIN IMMEDIATE")
        holder.execute("ROLLBACK")
    assert caught.value.sqlite_errorcode == sqlite3.SQLITE_BUSY
    assert is_transient_database_error(caught.value)


async def test_a_refused_connection_is_transient() -> None:
    # Nothing listens there: asyncpg raises the socket's error, SQLAlchemy passes it on.
    engine = create_async_engine(f"postgresql+asyncpg://reinforce@127.0.0.1:{free_port()}/x")
    try:
        with pytest.raises(ConnectionRefusedError) as caught:
            async with engine.connect():
                pass
    finally:
        await engine.dispose()
    assert is_transient_database_error(caught.value)


@pytest.mark.parametrize(
    "error",
    [
        ConnectionRefusedError(111, "refused, but not by the database driver"),
        socket.gaierror(-2, "Name or service not known"),
        FileNotFoundError("no such file"),
    ],
    ids=repr,
)
def test_os_errors_from_elsewhere_are_not(error: OSError) -> None:
    assert not is_transient_database_error(_raised(error))


@pytest.mark.parametrize(
    "error",
    [
        sqlite3.OperationalError("no such table: x"),
        _wrapped(sqlite3.OperationalError("no such table: x")),
        sa_exc.IntegrityError("INSERT", None, sqlite3.IntegrityError("UNIQUE constraint failed")),
        _through_asyncpg_adapter(asyncpg.exceptions.UniqueViolationError("duplicate key")),
        _through_asyncpg_adapter(asyncpg.exceptions.UndefinedTableError("no such relation")),
        _through_asyncpg_adapter(asyncpg.exceptions.DivisionByZeroError("division by zero")),
        sa_exc.InvalidRequestError("not a database problem"),
        RuntimeError("database is locked"),
        # Only a database error's own driver error counts, not whatever an error wraps.
        _caused_by(RuntimeError("wrapped"), sqlite3.OperationalError("database is locked")),
    ],
    ids=repr,
)
def test_everything_else_is_not(error: BaseException) -> None:
    assert not is_transient_database_error(error)
