"""Shopper tokens, and the /v1/me routes a shop's frontend calls with one.

The /v1/me routes answer exactly what the /v1/customers routes answer for the token's
customer: they call the same endpoint functions, so the two can never drift apart.
"""

from datetime import timedelta
from typing import Annotated

from fastapi import APIRouter, Depends, Path, Query, Request, status
from fastapi.responses import JSONResponse

from app.auth.dependencies import RequireScope, ShopperId
from app.auth.scopes import Scope
from app.auth.tokens import TokenCodec
from app.customers import service as customers
from app.customers import views as customer_views
from app.customers.schemas import CustomerOut
from app.database import ReadSession, Session
from app.errors import Forbidden, problem_responses
from app.gamification import challenge_service
from app.gamification import views as gamification_views
from app.gamification.challenge_schemas import ChallengeProgressList
from app.gamification.router import BoardId, PeriodQuery
from app.gamification.schemas import MAX_NEIGHBOURS, MyStandingOut
from app.idempotency import IdempotencyKeyHeader
from app.ledger import views as ledger_views
from app.ledger.router import REPLAY_RESPONSE
from app.ledger.schemas import LedgerEntryOut, Movement, RedemptionIn
from app.models.base import utcnow
from app.schemas import CURSOR_DESCRIPTION, CURSOR_PATTERN, MAX_PAGE_SIZE, ExternalId, Page
from app.shoppers.schemas import JsonWebKeySet, ShopperToken, TokenRequest

router = APIRouter()


class ShopperRedemptionsDisabled(Forbidden):
    slug = "shopper-redemptions-disabled"


@router.post(
    "/v1/customers/{customer_id}/tokens",
    tags=["shoppers"],
    status_code=status.HTTP_201_CREATED,
    response_model=ShopperToken,
    responses=problem_responses(401, 403, 404, 422),
    dependencies=[Depends(RequireScope(Scope.customers_write))],
)
async def mint_token(
    customer_id: Annotated[ExternalId, Path(description="The shop's customer id.")],
    request: Request,
    session: ReadSession,
    body: TokenRequest | None = None,
) -> ShopperToken:
    """Mint a short-lived shopper token for one existing customer, for the shop's
    frontend to call `/v1/me` with. Call it from your backend, after your own login."""
    await customers.get(session, customer_id)
    codec: TokenCodec = request.app.state.tokens
    ttl = timedelta(seconds=body.ttl_seconds) if body and body.ttl_seconds else None
    now = utcnow()
    minted = codec.mint(customer_id, now, ttl)
    return ShopperToken(
        token=minted.token,
        customer_id=customer_id,
        expires_at=minted.expires_at,
        expires_in=int((minted.expires_at - now.replace(microsecond=0)).total_seconds()),
    )


@router.get(
    "/.well-known/jwks.json",
    tags=["shoppers"],
    response_model=JsonWebKeySet,
)
async def jwks(request: Request) -> JsonWebKeySet:
    """The public key that verifies shopper tokens (EdDSA or RS256), so a shop can check
    a token itself. Empty when tokens are signed with a shared secret (HS256)."""
    codec: TokenCodec = request.app.state.tokens
    return JsonWebKeySet.model_validate(codec.jwks())


@router.get(
    "/v1/me",
    tags=["me"],
    response_model=CustomerOut,
    responses=problem_responses(401, 403, 404),
)
async def get_me(customer_id: ShopperId, session: ReadSession) -> CustomerOut:
    """The shopper's own points, tier, badges and perks. Shopper token only."""
    return await customer_views.customer_view(session, customer_id)


@router.get(
    "/v1/me/ledger",
    tags=["me"],
    response_model=Page[LedgerEntryOut],
    responses=problem_responses(401, 403, 404, 422),
)
async def get_my_ledger(
    customer_id: ShopperId,
    session: ReadSession,
    cursor: Annotated[
        str | None, Query(max_length=100, pattern=CURSOR_PATTERN, description=CURSOR_DESCRIPTION)
    ] = None,
    limit: Annotated[int, Query(ge=1, le=MAX_PAGE_SIZE)] = 50,
) -> Page[LedgerEntryOut]:
    """The shopper's own points movements, newest first. Shopper token only."""
    return await ledger_views.ledger_page(session, customer_id, cursor, limit)


@router.post(
    "/v1/me/redemptions",
    tags=["me"],
    status_code=status.HTTP_201_CREATED,
    response_model=Movement,
    responses={
        200: {"model": Movement, **REPLAY_RESPONSE},
        **problem_responses(401, 403, 404, 409, 422),
    },
)
async def redeem_mine(
    customer_id: ShopperId,
    body: RedemptionIn,
    request: Request,
    session: Session,
    idempotency_key: IdempotencyKeyHeader = None,
) -> Movement | JSONResponse:
    """Spend the shopper's own points, as `POST /v1/customers/{id}/redemptions` does.
    Only when `REINFORCE_SHOPPER_REDEMPTIONS` is on; otherwise a 403."""
    if not request.app.state.settings.shopper_redemptions:
        raise ShopperRedemptionsDisabled(
            "Shoppers may not redeem points themselves here; the shop's backend redeems "
            "for them (REINFORCE_SHOPPER_REDEMPTIONS is off)."
        )
    return await ledger_views.redeem(session, customer_id, body, idempotency_key)


@router.get(
    "/v1/me/leaderboards/{leaderboard_id}",
    tags=["me"],
    response_model=MyStandingOut,
    responses=problem_responses(401, 403, 404, 422),
)
async def get_my_standing(
    leaderboard_id: BoardId,
    customer_id: ShopperId,
    session: ReadSession,
    period: PeriodQuery = "current",
    neighbours: Annotated[
        int, Query(ge=0, le=MAX_NEIGHBOURS, description="Entries shown above and below.")
    ] = 2,
) -> MyStandingOut:
    """The shopper's own rank and score, with the entries just above and below by display
    name only (never other customers' ids). Shopper token only."""
    return await gamification_views.my_standing(
        session, leaderboard_id, customer_id, period, neighbours
    )


@router.get(
    "/v1/me/challenges",
    tags=["me"],
    response_model=ChallengeProgressList,
    responses=problem_responses(401, 403, 404),
)
async def get_my_challenges(customer_id: ShopperId, session: ReadSession) -> ChallengeProgressList:
    """The shopper's own progress, deadlines and completions in every live challenge.
    Shopper token only."""
    await customers.get(session, customer_id)
    items = await challenge_service.customer_progress(session, customer_id, utcnow())
    return ChallengeProgressList(items=items)
