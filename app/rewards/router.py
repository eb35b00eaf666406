"""The rewards catalog, claims, voids and referral codes."""

from typing import Annotated

from fastapi import APIRouter, Depends, Path, Request, Response, status
from fastapi.responses import JSONResponse

from app.auth.dependencies import RequireScope
from app.auth.scopes import Scope
from app.database import ReadSession, Session
from app.errors import problem_responses
from app.idempotency import IdempotencyKeyHeader
from app.ledger.router import REPLAY_RESPONSE, CustomerId
from app.rewards import catalog, claims, coupons, referrals, views
from app.rewards.schemas import (
    REWARD_ID_PATTERN,
    ClaimIn,
    ClaimOut,
    CodesIn,
    CodesOut,
    CouponListOut,
    ReferralCodeOut,
    RewardIn,
    RewardListOut,
    RewardOut,
    RewardPatch,
    VoidOut,
)

router = APIRouter(tags=["rewards"])

RewardId = Annotated[
    str, Path(max_length=64, pattern=REWARD_ID_PATTERN, description="The reward's id.")
]
ClaimId = Annotated[
    str, Path(max_length=64, pattern=REWARD_ID_PATTERN, description="The claim's id.")
]
_WRITE = [Depends(RequireScope(Scope.rewards_write))]
_READ = [Depends(RequireScope(Scope.customers_read))]


@router.post(
    "/v1/rewards",
    status_code=status.HTTP_201_CREATED,
    response_model=RewardOut,
    responses=problem_responses(401, 403, 422),
    dependencies=_WRITE,
)
async def create_reward(body: RewardIn, session: Session) -> RewardOut:
    """Add a reward to the catalog, as version 1."""
    return catalog.reward_out(await catalog.create(session, body))


@router.get(
    "/v1/rewards",
    response_model=RewardListOut,
    responses=problem_responses(401, 403),
    dependencies=_READ,
)
async def list_rewards(session: ReadSession) -> RewardListOut:
    """The catalog: every reward not deleted, oldest first (active or not)."""
    return RewardListOut(items=[catalog.reward_out(r) for r in await catalog.list_rewards(session)])


@router.get(
    "/v1/rewards/{reward_id}",
    response_model=RewardOut,
    responses=problem_responses(401, 403, 404, 422),
    dependencies=_READ,
)
async def get_reward(reward_id: RewardId, session: ReadSession) -> RewardOut:
    """One reward, at its current version; a deleted one is a 404 `unknown-reward`."""
    return catalog.reward_out(await catalog.get(session, reward_id))


@router.patch(
    "/v1/rewards/{reward_id}",
    response_model=RewardOut,
    responses=problem_responses(401, 403, 404, 422),
    dependencies=_WRITE,
)
async def update_reward(reward_id: RewardId, body: RewardPatch, session: Session) -> RewardOut:
    """Change some of a reward's fields. A changed document is the next version (claims
    already made keep the version they bought); `stock` alone changes no version."""
    return catalog.reward_out(await catalog.update(session, reward_id, body))


@router.delete(
    "/v1/rewards/{reward_id}",
    status_code=status.HTTP_204_NO_CONTENT,
    responses=problem_responses(401, 403, 404, 422),
    dependencies=_WRITE,
)
async def delete_reward(reward_id: RewardId, session: Session) -> Response:
    """Take a reward out of the catalog. Its coupons already issued stay valid."""
    await catalog.delete(session, reward_id)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.post(
    "/v1/rewards/{reward_id}/codes",
    status_code=status.HTTP_201_CREATED,
    response_model=CodesOut,
    responses=problem_responses(401, 403, 404, 409, 422),
    dependencies=_WRITE,
)
async def import_codes(reward_id: RewardId, body: CodesIn, session: Session) -> CodesOut:
    """Fill the reward's pool with codes your platform generated (up to 10,000 a request).
    From then on each claim takes the pool's next unused code; an empty pool is
    `reward-out-of-stock`. A code already imported or issued anywhere is a 409
    `duplicate-codes` that lists them, and none is imported."""
    reward = await catalog.get(session, reward_id, lock=True)
    imported, available = await coupons.import_codes(session, reward, body.codes)
    return CodesOut(reward_id=reward.id, imported=imported, available=available)


@router.post(
    "/v1/customers/{customer_id}/claims",
    status_code=status.HTTP_201_CREATED,
    response_model=ClaimOut,
    responses={
        200: {"model": ClaimOut, **REPLAY_RESPONSE},
        **problem_responses(401, 403, 404, 409, 422),
    },
    dependencies=[Depends(RequireScope(Scope.customers_write))],
)
async def create_claim(
    customer_id: CustomerId,
    body: ClaimIn,
    session: Session,
    idempotency_key: IdempotencyKeyHeader = None,
) -> ClaimOut | JSONResponse:
    """Buy a reward with points: a `redeem` entry naming the reward, and a coupon.

    Refusals: `404 unknown-reward`; `409 reward-inactive` (outside its window),
    `reward-not-eligible` (with the failed `condition`), `reward-limit-reached`,
    `reward-out-of-stock`; `422 insufficient-points` (with `missing`). Stock and limits hold
    however many claims race."""
    return await views.claim(session, customer_id, body, idempotency_key)


@router.post(
    "/v1/claims/{claim_id}/void",
    response_model=VoidOut,
    responses=problem_responses(401, 403, 404, 409, 422),
    dependencies=[Depends(RequireScope(Scope.admin))],
)
async def void_claim(claim_id: ClaimId, request: Request, session: Session) -> VoidOut:
    """Void a claim: its coupon can no longer be used, its points come back as a `reverse`
    entry and its unit goes back in stock. A claim whose coupon was used is a 409
    `coupon-already-used`; one voided already, `claim-already-void`."""
    return await claims.void(session, claim_id, request.app.state.settings.points_validity_days)


@router.get(
    "/v1/customers/{customer_id}/coupons",
    response_model=CouponListOut,
    responses=problem_responses(401, 403, 404, 422),
    dependencies=_READ,
)
async def list_customer_coupons(customer_id: CustomerId, session: ReadSession) -> CouponListOut:
    """The customer's coupons, newest first (the latest 500)."""
    return await views.coupon_list(session, customer_id)


@router.get(
    "/v1/customers/{customer_id}/referral-code",
    response_model=ReferralCodeOut,
    responses=problem_responses(401, 403, 404, 422),
    dependencies=_READ,
)
async def get_referral_code(customer_id: CustomerId, session: Session) -> ReferralCodeOut:
    """The customer's referral code, made on first read and the same ever after. A new
    customer's `signup` or `purchase` with it in `data.referral_code` records the referral."""
    return ReferralCodeOut(
        code=await referrals.code_for(session, customer_id), customer_id=customer_id
    )
