"""The shopper's own rewards, claims, coupons and referral code under /v1/me: the same views
the shop's /v1/customers routes answer with."""

from fastapi import APIRouter, Request, status
from fastapi.responses import JSONResponse

from app.auth.dependencies import ShopperId
from app.database import ReadSession, Session
from app.errors import problem_responses
from app.idempotency import IdempotencyKeyHeader
from app.ledger.router import REPLAY_RESPONSE
from app.rewards import referrals, views
from app.rewards.schemas import (
    ClaimIn,
    ClaimOut,
    CouponListOut,
    MyRewardListOut,
    ReferralCodeOut,
)
from app.shoppers.router import ShopperRedemptionsDisabled

router = APIRouter(tags=["me"])


@router.get(
    "/v1/me/rewards",
    response_model=MyRewardListOut,
    responses=problem_responses(401, 403, 404),
)
async def list_my_rewards(customer_id: ShopperId, session: ReadSession) -> MyRewardListOut:
    """The rewards claimable now, each with `affordable`, `eligible` and the `reasons` it
    cannot be claimed yet. Shopper token only."""
    return await views.catalog_for(session, customer_id)


@router.post(
    "/v1/me/claims",
    status_code=status.HTTP_201_CREATED,
    response_model=ClaimOut,
    responses={
        200: {"model": ClaimOut, **REPLAY_RESPONSE},
        **problem_responses(401, 403, 404, 409, 422),
    },
)
async def claim_mine(
    customer_id: ShopperId,
    body: ClaimIn,
    request: Request,
    session: Session,
    idempotency_key: IdempotencyKeyHeader = None,
) -> ClaimOut | JSONResponse:
    """Claim a reward with the shopper's own points, as `POST /v1/customers/{id}/claims`
    does. Only when `REINFORCE_SHOPPER_REDEMPTIONS` is on; otherwise a 403."""
    if not request.app.state.settings.shopper_redemptions:
        raise ShopperRedemptionsDisabled(
            "Shoppers may not claim rewards themselves here; the shop's backend claims for "
            "them (REINFORCE_SHOPPER_REDEMPTIONS is off)."
        )
    return await views.claim(session, customer_id, body, idempotency_key)


@router.get(
    "/v1/me/coupons",
    response_model=CouponListOut,
    responses=problem_responses(401, 403, 404),
)
async def list_my_coupons(customer_id: ShopperId, session: ReadSession) -> CouponListOut:
    """The shopper's coupons, newest first. Shopper token only."""
    return await views.coupon_list(session, customer_id)


@router.get(
    "/v1/me/referral-code",
    response_model=ReferralCodeOut,
    responses=problem_responses(401, 403, 404),
)
async def get_my_referral_code(customer_id: ShopperId, session: Session) -> ReferralCodeOut:
    """The shopper's referral code to share. Shopper token only."""
    return ReferralCodeOut(
        code=await referrals.code_for(session, customer_id), customer_id=customer_id
    )
