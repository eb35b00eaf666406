"""The ledger as the API shows it, for the routes that answer it (the shop's and the
shopper's own): a page of entries, and a redemption with the balance it leaves."""

from fastapi.responses import JSONResponse
from sqlalchemy.ext.asyncio import AsyncSession

from app.customers import service as customers
from app.errors import InvalidCursor
from app.idempotency import run_once
from app.ledger import service
from app.ledger.schemas import BalanceOut, LedgerEntryOut, Movement, RedemptionIn
from app.models import Customer, EntryKind, LedgerEntry
from app.schemas import Page, decode_cursor, encode_cursor


async def ledger_page(
    session: AsyncSession, customer_id: str, cursor: str | None, limit: int
) -> Page[LedgerEntryOut]:
    """Every points movement of a customer, newest first, each with its reason."""
    before = None
    if cursor is not None:
        before = decode_cursor(cursor)
        if before is None:
            raise InvalidCursor("The cursor is not one this API issued.")
    await customers.get(session, customer_id)
    entries = await service.entries_page(session, customer_id, before_id=before, limit=limit + 1)
    more = len(entries) > limit
    entries = entries[:limit]
    return Page[LedgerEntryOut](
        items=[LedgerEntryOut.model_validate(e) for e in entries],
        next_cursor=encode_cursor(entries[-1].id) if more else None,
    )


async def movement(session: AsyncSession, customer: Customer, entry: LedgerEntry) -> Movement:
    balance = await service.balance(session, customer)
    return Movement(
        entry_id=entry.id,
        customer_id=customer.id,
        kind=entry.kind,
        points=entry.points,
        reason=entry.reason,
        reference=entry.reference,
        created_at=entry.created_at,
        balance=BalanceOut.model_validate(balance),
    )


async def redeem(
    session: AsyncSession, customer_id: str, body: RedemptionIn, idempotency_key: str | None
) -> Movement | JSONResponse:
    """Spend points, earliest-expiring first, never below zero; once per Idempotency-Key."""

    async def work() -> Movement:
        customer = await customers.lock(session, customer_id)
        entry = await service.debit(
            session,
            customer,
            body.points,
            kind=EntryKind.redeem,
            reason=body.reason,
            reference=body.reference,
        )
        return await movement(session, customer, entry)

    return await run_once(
        session,
        scope=f"redemption:{customer_id}",
        key=idempotency_key,
        request=body,
        work=work,
    )
