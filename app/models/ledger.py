from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import BigInteger, ForeignKey, Index, Integer, String, select, text
from sqlalchemy.engine.default import DefaultExecutionContext
from sqlalchemy.orm import Mapped, mapped_column, relationship

from app.models.base import Base, BigPoints, utcnow
from app.models.customer import ID_LENGTH
from app.models.event import Event

# SQLite only auto-increments an INTEGER PRIMARY KEY.
BigId = BigInteger().with_variant(Integer(), "sqlite")


class EntryKind(StrEnum):
    earn = "earn"
    redeem = "redeem"
    expire = "expire"
    reverse = "reverse"
    adjust = "adjust"


def _source_occurred_at(context: DefaultExecutionContext) -> datetime:
    """When the entry's source event happened; for an entry without one (a redemption, an
    adjustment), when the entry is written.

    A writer that knows the event passes ``occurred_at`` itself and this never runs; for
    one that does not, it costs a primary-key read of the event (claimed earlier in the
    same transaction), so that no entry is ever written without the time.
    """
    parameters: dict[str, Any] = context.get_current_parameters()  # type: ignore[no-untyped-call]
    event_id = parameters.get("event_id")
    if event_id is not None:
        occurred_at: datetime | None = context.connection.scalar(
            select(Event.occurred_at).where(Event.id == event_id)
        )
        if occurred_at is not None:
            return occurred_at
    created_at = parameters.get("created_at")
    return created_at if isinstance(created_at, datetime) else utcnow()


class LedgerEntry(Base):
    """One signed movement of points. Rows are only ever inserted."""

    __tablename__ = "ledger_entries"
    __table_args__ = (
        Index("ix_ledger_entries_customer_id_id", "customer_id", "id"),
        # Reports by window (points per week, each rule's credits): a range read of the
        # movements that never visits the table.
        Index(
            "ix_ledger_entries_occurred_at_kind",
            "occurred_at",
            "kind",
            "points",
            "rule_id",
            "customer_id",
        ),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    customer_id: Mapped[str] = mapped_column(ForeignKey("customers.id"))
    kind: Mapped[str] = mapped_column(String(16))
    points: Mapped[int] = mapped_column(BigPoints)
    event_id: Mapped[str | None] = mapped_column(ForeignKey("events.id"), index=True)
    rule_id: Mapped[str | None] = mapped_column(String(64))
    reason: Mapped[str] = mapped_column(String(500))
    reference: Mapped[str | None] = mapped_column(String(200))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    # When the source event happened (``created_at`` is when the entry was written).
    occurred_at: Mapped[datetime] = mapped_column(default=_source_occurred_at)


class PointLot(Base):
    """Points from one credit, spent down by redemptions, clawbacks and expiry.

    ``remaining`` is the only mutable figure, and every change to it is matched by a
    ledger entry in the same transaction, so the lots always sum to the ledger. A
    negative lot is a debt left by a refund when negative balances are allowed.
    """

    __tablename__ = "point_lots"
    __table_args__ = (
        Index(
            "ix_point_lots_open",
            "customer_id",
            "expires_at",
            sqlite_where=text("remaining != 0"),
            postgresql_where=text("remaining != 0"),
        ),
        Index(
            "ix_point_lots_expiring",
            "expires_at",
            sqlite_where=text("remaining > 0"),
            postgresql_where=text("remaining > 0"),
        ),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    customer_id: Mapped[str] = mapped_column(ForeignKey("customers.id"))
    entry_id: Mapped[int] = mapped_column(ForeignKey("ledger_entries.id"))
    event_id: Mapped[str | None] = mapped_column(String(ID_LENGTH))
    order_id: Mapped[str | None] = mapped_column(String(ID_LENGTH), index=True)
    points: Mapped[int] = mapped_column(BigPoints)
    remaining: Mapped[int] = mapped_column(BigPoints)
    available_at: Mapped[datetime]
    expires_at: Mapped[datetime | None]
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    # Lets a lot be added before its entry has an id: the flush inserts the entry first.
    # Never loaded (lazy="raise"): nothing reads a lot's entry through it.
    entry: Mapped[LedgerEntry] = relationship(lazy="raise")


class IdempotencyKey(Base):
    """A claimed ``Idempotency-Key`` and the response it produced, for replays."""

    __tablename__ = "idempotency_keys"

    scope: Mapped[str] = mapped_column(String(200), primary_key=True)
    key: Mapped[str] = mapped_column(String(200), primary_key=True)
    request_hash: Mapped[str] = mapped_column(String(64))
    status_code: Mapped[int | None]
    response: Mapped[dict[str, Any] | None]
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
