"""The checkout's routes: read a coupon, use it on an order, release it when the order is
cancelled. A `coupons:redeem` key (or admin)."""

from typing import Annotated

from fastapi import APIRouter, Depends, Path, status
from fastapi.responses import JSONResponse

from app.auth.dependencies import RequireScope
from app.auth.scopes import Scope
from app.database import ReadSession, Session
from app.errors import problem_responses
from app.idempotency import IdempotencyKeyHeader, run_once
from app.ledger.router import REPLAY_RESPONSE
from app.rewards import coupons
from app.rewards.schemas import CODE_PATTERN, CouponOut, CouponRedemptionIn
from app.schemas import ExternalId

router = APIRouter(
    prefix="/v1/coupons",
    tags=["coupons"],
    dependencies=[Depends(RequireScope(Scope.coupons_redeem))],
)

Code = Annotated[str, Path(max_length=64, pattern=CODE_PATTERN, description="The coupon code.")]


@router.get(
    "/{code}",
    response_model=CouponOut,
    responses=problem_responses(401, 403, 404, 422),
)
async def get_coupon(code: Code, session: ReadSession) -> CouponOut:
    """What a code is worth and whether it can be used: `status` is active, used, expired
    or void. An unknown code is a 404 `unknown-coupon`."""
    return await coupons.view(session, await coupons.get(session, code))


@router.post(
    "/{code}/redemptions",
    status_code=status.HTTP_201_CREATED,
    response_model=CouponOut,
    responses={
        200: {"model": CouponOut, **REPLAY_RESPONSE},
        **problem_responses(401, 403, 404, 409, 422),
    },
)
async def redeem_coupon(
    code: Code,
    body: CouponRedemptionIn,
    session: Session,
    idempotency_key: IdempotencyKeyHeader = None,
) -> CouponOut | JSONResponse:
    """Use the coupon on an order, exactly once, however many checkouts race: a second use
    is a 409 `coupon-already-used` (naming the order), an expired or voided coupon a 409
    `coupon-expired` or `coupon-void`."""

    async def work() -> CouponOut:
        return await coupons.redeem(session, code, body.order_id)

    return await run_once(
        session, scope=f"coupon:{code}", key=idempotency_key, request=body, work=work
    )


@router.delete(
    "/{code}/redemptions/{order_id}",
    response_model=CouponOut,
    responses=problem_responses(401, 403, 404, 422),
)
async def release_coupon(
    code: Code,
    order_id: Annotated[ExternalId, Path(description="The cancelled order.")],
    session: Session,
) -> CouponOut:
    """Release the coupon used on a cancelled order: usable again until it expires. A
    coupon not used on that order is a 404 `coupon-redemption-not-found`."""
    return await coupons.release(session, code, order_id)
