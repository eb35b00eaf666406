"""The points ledger: credits, debits, refund clawbacks, expiry and balances.

Every function takes a customer row its caller has locked (``customers.service.lock``),
so that reading the lots and changing them cannot interleave with another transaction
on the same customer. Each change to a lot's ``remaining`` is matched by a ledger entry
in the same transaction: the lots always sum to the entries.
"""

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import (
    BindParameter,
    ColumnElement,
    Select,
    and_,
    bindparam,
    case,
    func,
    or_,
    select,
)
from sqlalchemy.ext.asyncio import AsyncSession

from app.errors import Unprocessable
from app.ledger import counters
from app.models import Customer, EntryKind, LedgerEntry, PointLot
from app.models.base import utcnow
from app.webhooks import outbox


class InsufficientPoints(Unprocessable):
    slug = "insufficient-points"
    title = "Not enough points"

    def __init__(self, *, requested: int, available: int) -> None:
        missing = requested - available
        super().__init__(
            f"{requested} points requested but only {available} available: {missing} missing.",
            extra={"requested": requested, "available": available, "missing": missing},
        )


@dataclass(frozen=True)
class Balance:
    """Where a customer's points went: ``earned - redeemed - expired - reversed + adjusted
    == available + pending`` at every instant (``adjusted`` is signed)."""

    available: int
    pending: int
    lifetime_earned: int
    redeemed: int
    expired: int
    earned: int
    reversed: int
    adjusted: int


def _open(now: datetime | BindParameter[datetime]) -> ColumnElement[bool]:
    """Lots that still hold points (or debt) and have not expired."""
    return and_(
        PointLot.remaining != 0,
        or_(PointLot.expires_at.is_(None), PointLot.expires_at > now),
    )


def _balance_statement() -> Select[int, int, int]:
    now: BindParameter[datetime] = bindparam("now")

    def total(when: ColumnElement[bool]) -> ColumnElement[int]:
        return func.coalesce(func.sum(case((when, PointLot.remaining), else_=0)), 0)

    # Lots past their expiry that the expiry job has not turned into entries yet are
    # neither available nor pending any more: they count as expired already, so that the
    # balance adds up between the expiry instant and the job's run.
    return select(
        total(and_(_open(now), PointLot.available_at <= now)),
        total(and_(_open(now), PointLot.available_at > now)),
        total(PointLot.expires_at <= now),
    ).where(PointLot.customer_id == bindparam("customer_id"), PointLot.remaining != 0)


# Built once: every event reads the balance, and constructing this expression (and its
# cache key) cost about as much as running it.
_BALANCE = _balance_statement()


async def balance(
    session: AsyncSession, customer: Customer, now: datetime | None = None
) -> Balance:
    parameters = {"now": now or utcnow(), "customer_id": customer.id}
    row = (await session.execute(_BALANCE, parameters)).one()
    return Balance(
        available=int(row[0]),
        pending=int(row[1]),
        lifetime_earned=customer.points_earned,
        redeemed=customer.points_redeemed,
        expired=customer.points_expired + int(row[2]),
        earned=customer.points_earned,
        reversed=customer.points_reversed,
        adjusted=customer.points_adjusted,
    )


def _count(customer: Customer, kind: EntryKind, points: int) -> None:
    if kind is EntryKind.earn:
        customer.points_earned += points
    elif kind is EntryKind.redeem:
        customer.points_redeemed -= points
    elif kind is EntryKind.expire:
        customer.points_expired -= points
    elif kind is EntryKind.reverse:
        customer.points_reversed -= points
    else:
        customer.points_adjusted += points


async def _entry(
    session: AsyncSession,
    customer: Customer,
    *,
    kind: EntryKind,
    points: int,
    reason: str,
    event_id: str | None = None,
    rule_id: str | None = None,
    reference: str | None = None,
) -> LedgerEntry:
    """Append an entry, flushed at once: its id goes into the webhook message."""
    entry = LedgerEntry(
        customer_id=customer.id,
        kind=kind.value,
        points=points,
        event_id=event_id,
        rule_id=rule_id,
        reason=reason[:500],
        reference=reference,
        created_at=utcnow(),
    )
    session.add(entry)
    _count(customer, kind, points)
    counters.note(session.sync_session, kind.value, points)
    await session.flush()
    await outbox.points_moved(
        session,
        kind=kind.value,
        customer_id=customer.id,
        entry_id=entry.id,
        points=points,
        event_id=event_id,
        rule_id=rule_id,
        reference=reference,
    )
    return entry


async def credit(
    session: AsyncSession,
    customer: Customer,
    points: int,
    *,
    kind: EntryKind,
    reason: str,
    available_at: datetime,
    expires_at: datetime | None,
    event_id: str | None = None,
    rule_id: str | None = None,
    order_id: str | None = None,
    reference: str | None = None,
) -> LedgerEntry:
    """Add points as a new lot, pending until ``available_at``."""
    if points <= 0:
        raise ValueError("a credit is a positive number of points")
    entry = await _entry(
        session,
        customer,
        kind=kind,
        points=points,
        reason=reason,
        event_id=event_id,
        rule_id=rule_id,
        reference=reference,
    )
    session.add(
        PointLot(
            customer_id=customer.id,
            entry=entry,
            event_id=event_id,
            order_id=order_id,
            points=points,
            remaining=points,
            available_at=available_at,
            expires_at=expires_at,
            created_at=utcnow(),
        )
    )
    return entry


async def _spendable_lots(
    session: AsyncSession, customer: Customer, now: datetime
) -> Sequence[PointLot]:
    result = await session.scalars(
        select(PointLot)
        .where(
            PointLot.customer_id == customer.id,
            PointLot.remaining > 0,
            PointLot.available_at <= now,
        )
        .where(or_(PointLot.expires_at.is_(None), PointLot.expires_at > now))
        # Earliest expiry first, so that redeemed points are the ones about to be lost.
        .order_by(PointLot.expires_at.is_(None), PointLot.expires_at, PointLot.id)
        .with_for_update()
    )
    return result.all()


def _take(lots: Sequence[PointLot], points: int) -> int:
    """Spend up to ``points`` from the lots in order; answers how many were taken."""
    taken = 0
    for lot in lots:
        if taken == points:
            break
        step = min(lot.remaining, points - taken)
        lot.remaining -= step
        taken += step
    return taken


async def debit(
    session: AsyncSession,
    customer: Customer,
    points: int,
    *,
    kind: EntryKind,
    reason: str,
    reference: str | None = None,
    event_id: str | None = None,
) -> LedgerEntry:
    """Spend available points, earliest-expiring first, or raise ``InsufficientPoints``."""
    if points <= 0:
        raise ValueError("a debit is a positive number of points")
    now = utcnow()
    current = await balance(session, customer, now)
    if current.available < points:
        raise InsufficientPoints(requested=points, available=max(current.available, 0))
    lots = await _spendable_lots(session, customer, now)
    taken = _take(lots, points)
    # The available balance nets any debt lot, so the positive lots always cover it.
    assert taken == points, "available balance and spendable lots disagree"
    return await _entry(
        session,
        customer,
        kind=kind,
        points=-points,
        reason=reason,
        reference=reference,
        event_id=event_id,
    )


async def customers_with_expired_lots(
    session: AsyncSession, now: datetime, limit: int
) -> list[str]:
    result = await session.scalars(
        select(PointLot.customer_id)
        .distinct()
        .where(PointLot.remaining > 0, PointLot.expires_at <= now)
        .limit(limit)
    )
    return list(result)


async def expire_lots(session: AsyncSession, customer: Customer, now: datetime) -> int:
    """Turn what is left of the customer's expired lots into expire entries."""
    lots = (
        await session.scalars(
            select(PointLot)
            .where(
                PointLot.customer_id == customer.id,
                PointLot.remaining > 0,
                PointLot.expires_at <= now,
            )
            .order_by(PointLot.id)
            .with_for_update()
        )
    ).all()
    total = 0
    for lot in lots:
        points, lot.remaining = lot.remaining, 0
        total += points
        await _entry(
            session,
            customer,
            kind=EntryKind.expire,
            points=-points,
            reason=f"points earned {lot.created_at:%Y-%m-%d} expired",
            event_id=lot.event_id,
        )
    return total


async def entries_page(
    session: AsyncSession, customer_id: str, *, before_id: int | None, limit: int
) -> list[LedgerEntry]:
    statement = select(LedgerEntry).where(LedgerEntry.customer_id == customer_id)
    if before_id is not None:
        statement = statement.where(LedgerEntry.id < before_id)
    result = await session.scalars(statement.order_by(LedgerEntry.id.desc()).limit(limit))
    return list(result)


async def adjust(
    session: AsyncSession, customer: Customer, points: int, *, reason: str, validity_days: int
) -> LedgerEntry:
    """An administrator's correction: credits become a lot valid like earned points."""
    if points < 0:
        return await debit(session, customer, -points, kind=EntryKind.adjust, reason=reason)
    now = utcnow()
    return await credit(
        session,
        customer,
        points,
        kind=EntryKind.adjust,
        reason=reason,
        available_at=now,
        expires_at=now + timedelta(days=validity_days) if validity_days else None,
    )
