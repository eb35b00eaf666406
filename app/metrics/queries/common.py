"""What the metric queries share: breakdowns, the customer filter, small SQL helpers and
the session set-up for aggregates."""

from collections.abc import Iterable
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from sqlalchemy import Connection, Select, and_, case, event, func, literal, literal_column
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.sql.elements import ColumnElement

from app.errors import Unprocessable
from app.events.types import ACTIVITY_TYPES
from app.metrics.periods import Window
from app.models import Customer, Event

# PostgreSQL's work_mem for the metrics' transactions (per sort or hash of a query); the
# default 4 MB spills the per-customer aggregates of a year of 100,000 customers to disk.
AGGREGATE_WORK_MEM = "32MB"

Key = str | None


class By(StrEnum):
    channel = "channel"
    tier = "tier"


class UnsupportedBreakdown(Unprocessable):
    slug = "unsupported-breakdown"
    title = "This metric cannot be broken down that way"


@dataclass(frozen=True, eq=False)
class CustomerFilter:
    """The customers a metric is restricted to: a subquery selecting customer ids (a
    segment's members), or a literal set of them.

    Every query of a metric whose registry entry says ``segments = True`` applies it, with
    ``where``, at the place where it first reads customers' rows, so that every count of
    the answer (numerators, denominators, breakdown groups) is over the members only.
    Compared by identity: two requests never share a query through it.
    """

    ids: Select[tuple[str]] | frozenset[str]

    @classmethod
    def of(cls, ids: Iterable[str]) -> "CustomerFilter":
        return cls(frozenset(ids))

    def where(self, column: Any) -> ColumnElement[bool]:
        if isinstance(self.ids, frozenset):
            return column.in_(sorted(self.ids))  # type: ignore[no-any-return]
        return column.in_(self.ids)  # type: ignore[no-any-return]


def restrict(customers: CustomerFilter | None, column: Any) -> list[ColumnElement[bool]]:
    """The filter's condition on ``column``, as a list to splice into ``where(...)``."""
    return [] if customers is None else [customers.where(column)]


def for_aggregates(session: AsyncSession) -> None:
    """Set up the transactions of a new session for the metrics' aggregate queries.

    On PostgreSQL: no JIT, whose compilation of these plans (inlining and optimising some
    60 functions) took 2-3 s, longer than the queries; and room for hashing every customer
    of a window in memory rather than in batches on disk. ``SET LOCAL`` lasts until the end
    of the transaction, so pooled connections are unaffected. The settings are sent when a
    transaction begins, so that a request whose queries all run on sessions of their own
    takes no connection for the one it was given.
    """
    if session.get_bind().dialect.name != "postgresql":
        return

    def set_up(_session: Any, _transaction: Any, connection: Connection) -> None:
        connection.exec_driver_sql("SET LOCAL jit = off")
        connection.exec_driver_sql(f"SET LOCAL work_mem = '{AGGREGATE_WORK_MEM}'")

    event.listen(session.sync_session, "after_begin", set_up)


def ratio(numerator: float, denominator: float) -> float | None:
    return None if not denominator else numerator / denominator


def rounded(value: float | None, digits: int = 6) -> float | None:
    return None if value is None else round(value, digits)


def as_int(value: Any) -> int:
    return int(value or 0)


def count_if(condition: ColumnElement[bool]) -> ColumnElement[int]:
    return func.coalesce(func.sum(case((condition, 1), else_=0)), 0)


def within(column: Any, window: Window) -> ColumnElement[bool]:
    return and_(column >= window.start, column < window.end)


def key_of(row: Any) -> Key:
    return None if row.key is None else str(row.key)


def grouped(statement: Any, by: By | None, customer_column: Any, channel_column: Any = None) -> Any:
    """Add the breakdown key (labelled ``key``) to an aggregate statement."""
    if by is None:
        return statement.add_columns(literal(None).label("key"))
    if by is By.channel:
        if channel_column is None:
            raise AssertionError("channel breakdown asked of a customer-level metric")
        return statement.add_columns(channel_column.label("key")).group_by(channel_column)
    return (
        statement.add_columns(Customer.tier.label("key"))
        .join(Customer, Customer.id == customer_column)
        .group_by(Customer.tier)
    )


def is_activity() -> ColumnElement[bool]:
    """The activity index's predicate, with literals, so that SQLite can use the index."""
    return Event.type.in_([literal_column(f"'{kind}'") for kind in ACTIVITY_TYPES])
