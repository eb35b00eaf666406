from typing import Annotated

from fastapi import APIRouter, Depends, Path

from app.auth.dependencies import RequireScope
from app.auth.scopes import Scope
from app.customers import service
from app.customers.schemas import Aggregates, BadgeOut, CustomerOut, PerkOut, PredictionOut
from app.database import ReadSession
from app.errors import problem_responses
from app.ledger import service as ledger
from app.ledger.schemas import BalanceOut
from app.metrics.predictive import latest_prediction
from app.models.base import utcnow
from app.schemas import ExternalId

router = APIRouter(prefix="/v1/customers", tags=["customers"])

CustomerId = Annotated[ExternalId, Path(description="The shop's customer id.")]


@router.get(
    "/{customer_id}",
    response_model=CustomerOut,
    responses=problem_responses(401, 403, 404, 422),
    dependencies=[Depends(RequireScope(Scope.customers_read))],
)
async def get_customer(customer_id: CustomerId, session: ReadSession) -> CustomerOut:
    """A customer's points, tier, badges, perks and purchase aggregates."""
    customer = await service.get(session, customer_id)
    now = utcnow()
    balance = await ledger.balance(session, customer, now)
    predicted = await latest_prediction(session, customer.id)
    return CustomerOut(
        id=customer.id,
        first_seen_at=customer.first_seen_at,
        tier=customer.tier,
        badges=[
            BadgeOut(badge=b.badge, awarded_at=b.awarded_at)
            for b in await service.badges(session, customer.id)
        ],
        perks=[
            PerkOut(perk=p.perk, granted_at=p.granted_at, expires_at=p.expires_at)
            for p in await service.active_perks(session, customer.id, now)
        ],
        points=BalanceOut.model_validate(balance),
        aggregates=Aggregates(
            purchase_count=customer.purchase_count,
            lifetime_spend=customer.lifetime_spend,
            first_purchase_at=customer.first_purchase_at,
            last_purchase_at=customer.last_purchase_at,
            referral_count=customer.referral_count,
        ),
        prediction=None
        if predicted is None
        else PredictionOut(
            predicted_clv=predicted.predicted_clv,
            p_alive=predicted.p_alive,
            expected_transactions=predicted.expected_transactions,
            fitted_at=predicted.fit.fitted_at,
            window_to=predicted.fit.window_to,
            time_unit=predicted.fit.time_unit,
            horizon=predicted.fit.horizon,
            discount_rate=predicted.fit.discount_rate,
        ),
    )
