from typing import Annotated

from fastapi import APIRouter, Depends, Path, Query, Request, status
from fastapi.responses import JSONResponse

from app.auth.dependencies import RequireScope
from app.auth.scopes import Scope
from app.customers import service as customers
from app.database import ReadSession, Session
from app.errors import NotFound, document_for, problem_responses
from app.idempotency import IdempotencyKeyHeader, run_once
from app.ledger import service, views
from app.ledger.schemas import (
    AdjustmentIn,
    BulkAwardIn,
    BulkAwardOut,
    BulkAwardRefused,
    LedgerEntryOut,
    Movement,
    RedemptionIn,
)
from app.models.base import utcnow
from app.schemas import (
    CURSOR_DESCRIPTION,
    CURSOR_PATTERN,
    MAX_PAGE_SIZE,
    ExternalId,
    Page,
)

router = APIRouter(tags=["ledger"])

CustomerId = Annotated[ExternalId, Path(description="The shop's customer id.")]
REPLAY_RESPONSE = {
    "description": "A repeat of an earlier request with the same `Idempotency-Key`: "
    "the first answer, replayed, with `Idempotent-Replayed: true`."
}


@router.get(
    "/v1/customers/{customer_id}/ledger",
    response_model=Page[LedgerEntryOut],
    responses=problem_responses(401, 403, 404, 422),
    dependencies=[Depends(RequireScope(Scope.customers_read))],
)
async def list_ledger(
    customer_id: CustomerId,
    session: ReadSession,
    cursor: Annotated[
        str | None, Query(max_length=100, pattern=CURSOR_PATTERN, description=CURSOR_DESCRIPTION)
    ] = None,
    limit: Annotated[int, Query(ge=1, le=MAX_PAGE_SIZE)] = 50,
) -> Page[LedgerEntryOut]:
    """Every points movement of a customer, newest first, each with its reason."""
    return await views.ledger_page(session, customer_id, cursor, limit)


@router.post(
    "/v1/customers/{customer_id}/redemptions",
    status_code=status.HTTP_201_CREATED,
    response_model=Movement,
    responses={
        200: {"model": Movement, **REPLAY_RESPONSE},
        **problem_responses(401, 403, 404, 409, 422),
    },
    dependencies=[Depends(RequireScope(Scope.customers_write))],
)
async def redeem(
    customer_id: CustomerId,
    body: RedemptionIn,
    session: Session,
    idempotency_key: IdempotencyKeyHeader = None,
) -> Movement | JSONResponse:
    """Spend points, earliest-expiring first. Never goes below zero, however many
    redemptions race: too few points is a 422 `insufficient-points` that says how many
    are missing, and nothing is written."""
    return await views.redeem(session, customer_id, body, idempotency_key)


@router.post(
    "/v1/customers/{customer_id}/adjustments",
    status_code=status.HTTP_201_CREATED,
    response_model=Movement,
    responses={
        200: {"model": Movement, **REPLAY_RESPONSE},
        **problem_responses(401, 403, 404, 409, 422),
    },
    dependencies=[Depends(RequireScope(Scope.admin))],
)
async def adjust(
    customer_id: CustomerId,
    body: AdjustmentIn,
    request: Request,
    session: Session,
    idempotency_key: IdempotencyKeyHeader = None,
) -> Movement | JSONResponse:
    """Correct a balance by hand. The reason is required and kept on the ledger entry.
    A debit cannot take the balance below zero."""

    async def work() -> Movement:
        customer = await customers.lock(session, customer_id)
        entry = await service.adjust(
            session,
            customer,
            body.points,
            reason=body.reason,
            validity_days=request.app.state.settings.points_validity_days,
        )
        return await views.movement(session, customer, entry)

    return await run_once(
        session,
        scope=f"adjustment:{customer_id}",
        key=idempotency_key,
        request=body,
        work=work,
    )


@router.post(
    "/v1/adjustments/bulk",
    status_code=status.HTTP_201_CREATED,
    response_model=BulkAwardOut,
    responses={
        200: {"model": BulkAwardOut, **REPLAY_RESPONSE},
        **problem_responses(401, 403, 409, 422),
    },
    dependencies=[Depends(RequireScope(Scope.admin))],
)
async def bulk_award(
    body: BulkAwardIn,
    request: Request,
    session: Session,
    idempotency_key: IdempotencyKeyHeader = None,
) -> BulkAwardOut | JSONResponse:
    """Give points to up to 1,000 customers at once. An award to an unknown customer is
    refused on its own (`refused`, each with a 404 problem), unless `create_customers` is
    true; the awards made commit together or not at all."""

    async def work() -> BulkAwardOut:
        validity_days = request.app.state.settings.points_validity_days
        entries: dict[str, int] = {}
        refused: list[BulkAwardRefused] = []
        awarded = 0
        # A fixed lock order keeps two overlapping bulk awards from deadlocking.
        for award in sorted(body.awards, key=lambda a: a.customer_id):
            if body.create_customers:
                customer = await customers.lock_or_create(session, award.customer_id, utcnow())
            else:
                try:
                    customer = await customers.lock(session, award.customer_id)
                except NotFound as exc:
                    problem = document_for(exc, request.url.path)
                    refused.append(
                        BulkAwardRefused(
                            customer_id=award.customer_id, status=exc.status, problem=problem
                        )
                    )
                    continue
            entry = await service.adjust(
                session, customer, award.points, reason=body.reason, validity_days=validity_days
            )
            entries[customer.id] = entry.id
            awarded += award.points
        return BulkAwardOut(count=len(entries), points=awarded, entries=entries, refused=refused)

    return await run_once(session, scope="bulk-award", key=idempotency_key, request=body, work=work)
