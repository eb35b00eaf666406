"""The customer as the API shows them, for the routes that answer it (the shop's and the
shopper's own)."""

from sqlalchemy.ext.asyncio import AsyncSession

from app.customers import service
from app.customers.schemas import (
    Aggregates,
    BadgeOut,
    CustomerOut,
    PerkOut,
    PredictionOut,
    ProfileOut,
)
from app.ledger import service as ledger
from app.ledger.schemas import BalanceOut
from app.metrics.predictive import latest_prediction
from app.models.base import utcnow
from app.rules import streak_service


async def customer_view(session: AsyncSession, customer_id: str) -> CustomerOut:
    """A customer's points, tier, badges, perks, aggregates, profile and prediction."""
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
        aggregates=Aggregates.model_validate(customer),
        profile=ProfileOut.model_validate(customer),
        streaks=await streak_service.customer_streaks(session, customer.id, now),
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
